/*
 * custom_resolver.cpp — invoking the custom resolver with fmgr.
 */
#include "worker/conflict/custom_resolver.hpp"

extern "C" {
#include "fmgr.h"
#include "utils/builtins.h"
#include "utils/datum.h"
}

#include "worker/apply/run_as_owner.hpp"

namespace concord::conflict_pg {

bool CallResolver(const apply::LocalTarget *t, Datum local_row, Datum remote_row, conflict::ConflictType type,
                  Datum *result) {
	FmgrInfo flinfo;
	fmgr_info(t->resolver, &flinfo);
	/* A STRICT resolver is not called with a missing local row: the local state is kept. */
	if (flinfo.fn_strict && local_row == (Datum)0)
		return false;
	/* LOCAL_FCINFO relies on a flexible array in a union; size the storage explicitly instead. */
	alignas(FunctionCallInfoBaseData) char storage[SizeForFunctionCallInfo(3)];
	auto *fcinfo = reinterpret_cast<FunctionCallInfo>(storage);
	InitFunctionCallInfoData(*fcinfo, &flinfo, 3, InvalidOid, nullptr, nullptr);
	fcinfo->args[0].value = local_row;
	fcinfo->args[0].isnull = local_row == (Datum)0;
	fcinfo->args[1].value = remote_row;
	fcinfo->args[1].isnull = false;
	fcinfo->args[2].value = CStringGetTextDatum(conflict::ConflictTypeName(type));
	fcinfo->args[2].isnull = false;

	apply::OwnerScope owner(t->owner);
	Datum value = FunctionCallInvoke(fcinfo);
	owner.Restore();
	if (fcinfo->isnull)
		return false;
	*result = datumCopy(value, false, -1);
	return true;
}

} // namespace concord::conflict_pg

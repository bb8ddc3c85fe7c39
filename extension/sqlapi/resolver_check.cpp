/*
 * resolver_check.cpp — checks a custom resolver's signature against its table.
 */
#include "extension/sqlapi/resolver_check.hpp"

extern "C" {
#include "access/htup_details.h"
#include "catalog/pg_proc.h"
#include "catalog/pg_type.h"
#include "utils/builtins.h"
#include "utils/lsyscache.h"
#include "utils/regproc.h"
#include "utils/syscache.h"
}

namespace concord::sqlapi {

void CheckResolverSignature(Oid relid, Oid resolver) {
	Oid rowtype = get_rel_type_id(relid);
	HeapTuple tuple = SearchSysCache1(PROCOID, ObjectIdGetDatum(resolver));
	if (!HeapTupleIsValid(tuple))
		ereport(ERROR, (errcode(ERRCODE_UNDEFINED_FUNCTION), errmsg("resolver function %u does not exist", resolver)));
	auto *proc = reinterpret_cast<Form_pg_proc>(GETSTRUCT(tuple));
	bool ok = proc->prokind == PROKIND_FUNCTION && !proc->proretset && proc->pronargs == 3 &&
	          proc->proargtypes.values[0] == rowtype && proc->proargtypes.values[1] == rowtype &&
	          proc->proargtypes.values[2] == TEXTOID && proc->prorettype == rowtype;
	ReleaseSysCache(tuple);
	if (!ok) {
		char *relname = get_rel_name(relid);
		ereport(ERROR, (errcode(ERRCODE_INVALID_FUNCTION_DEFINITION),
		                errmsg("resolver %s has the wrong signature for table \"%s\"",
		                       format_procedure(resolver), relname),
		                errdetail("A resolver must be declared as (local %s, remote %s, conflict_type text) RETURNS %s.",
		                          format_type_be(rowtype), format_type_be(rowtype), format_type_be(rowtype))));
	}
}

} // namespace concord::sqlapi

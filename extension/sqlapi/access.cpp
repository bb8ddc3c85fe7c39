/*
 * access.cpp — privilege and server-setting checks shared by the SQL functions.
 */
#include "extension/sqlapi/access.hpp"

extern "C" {
#include "access/commit_ts.h"
#include "access/xlog.h"
#include "miscadmin.h"
#include "utils/acl.h"
}

#include "extension/shmem/shared_state.hpp"

namespace concord::sqlapi {

void RequireAdmin(const char *function_name) {
	if (superuser())
		return;
	Oid admin = get_role_oid("concord_admin", true);
	if (OidIsValid(admin) && has_privs_of_role(GetUserId(), admin))
		return;
	ereport(ERROR, (errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
	                errmsg("permission denied for function %s", function_name),
	                errdetail("Only superusers and members of role \"concord_admin\" may change concord's "
	                          "configuration.")));
}

void RequireServerSettings() {
	if (wal_level < WAL_LEVEL_LOGICAL)
		ereport(ERROR, (errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
		                errmsg("concord requires wal_level = logical"),
		                errhint("Set wal_level = logical in postgresql.conf and restart the server.")));
	if (!track_commit_timestamp)
		ereport(ERROR, (errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
		                errmsg("concord requires track_commit_timestamp = on"),
		                errdetail("Conflict resolution compares the commit timestamps of local and remote rows."),
		                errhint("Set track_commit_timestamp = on in postgresql.conf and restart the server.")));
}

void RequirePreloaded() { shmem::RequireLoaded(); }

} // namespace concord::sqlapi

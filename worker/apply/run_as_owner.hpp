/*
 * run_as_owner.hpp — run applied statements with the table owner's rights.
 *
 * Switches the current user to `owner` inside a security-restricted
 * operation (as CREATE INDEX and REFRESH MATERIALIZED VIEW do), so code a
 * table owner wrote — triggers, defaults, check constraints, index
 * expressions, domain checks run by input functions — runs with no more
 * privilege than that owner has.  Settings that code changes (search_path
 * above all, which would steer the worker's own statements to the owner's
 * operators and functions) live in a GUC nest level of their own and are
 * undone by Restore(), as PostgreSQL does around index builds.  Restore()
 * then switches the user back; if an error intervenes, transaction abort
 * restores both instead, which is why this is a plain struct with no
 * destructor.
 */
#pragma once

extern "C" {
#include "postgres.h"

#include "miscadmin.h"
#include "utils/guc.h"
}

namespace concord::apply {

struct OwnerScope {
	Oid saved_user;
	int saved_context;
	int guc_nest_level;

	explicit OwnerScope(Oid owner) {
		GetUserIdAndSecContext(&saved_user, &saved_context);
		SetUserIdAndSecContext(owner,
		                       saved_context | SECURITY_LOCAL_USERID_CHANGE | SECURITY_RESTRICTED_OPERATION);
		guc_nest_level = NewGUCNestLevel();
	}
	void Restore() const {
		AtEOXact_GUC(false, guc_nest_level);
		SetUserIdAndSecContext(saved_user, saved_context);
	}
};

} // namespace concord::apply

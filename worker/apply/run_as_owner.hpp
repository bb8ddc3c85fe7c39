/*
 * run_as_owner.hpp — run applied statements with the table owner's rights.
 *
 * Switches the current user to `owner` inside a security-restricted
 * operation (as CREATE INDEX and REFRESH MATERIALIZED VIEW do), so code a
 * table owner wrote — triggers, defaults, check constraints, index
 * expressions — runs with no more privilege than that owner has, and cannot
 * change session state behind the worker's back.  Restore() switches back;
 * if an error intervenes, transaction abort restores the user instead, which
 * is why this is a plain struct with no destructor.
 */
#pragma once

extern "C" {
#include "postgres.h"

#include "miscadmin.h"
}

namespace concord::apply {

struct OwnerScope {
	Oid saved_user;
	int saved_context;

	explicit OwnerScope(Oid owner) {
		GetUserIdAndSecContext(&saved_user, &saved_context);
		SetUserIdAndSecContext(owner,
		                       saved_context | SECURITY_LOCAL_USERID_CHANGE | SECURITY_RESTRICTED_OPERATION);
	}
	void Restore() const { SetUserIdAndSecContext(saved_user, saved_context); }
};

} // namespace concord::apply

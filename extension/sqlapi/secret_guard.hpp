/*
 * secret_guard.hpp — keeping connection-string passwords out of error reports
 * and out of pg_stat_activity.
 *
 * Functions that take a DSN (subscribe, create_node, join_mesh) run their
 * body through HideSecrets.  First, the calling statement as
 * pg_stat_activity shows it (to pg_monitor members too) has the password
 * replaced, since the body may wait seconds for a peer.  Second, an ERROR leaving the body has the
 * password scrubbed from its message, detail and hint, and is marked so the
 * server log does not repeat the calling statement (which holds the DSN) in
 * a STATEMENT: line.  The body is PostgreSQL-style code (it owns no C++
 * objects); the password is copied into palloc'd memory beforehand.
 */
#pragma once

extern "C" {
#include "postgres.h"

#include "utils/elog.h"
#include "utils/memutils.h"
}

#include "common/conninfo/conninfo.hpp"
#include "extension/bridge/pg_guard.hpp"

namespace concord::sqlapi {

/* Replaces every occurrence of secret in a palloc'd string (nullptr stays nullptr). */
char *ScrubText(const char *text, const char *secret);

/* Reports this backend's current activity text again, with secret replaced. */
void ScrubActivity(const char *secret);

template <typename F>
auto HideSecrets(const char *dsn, F &&body) -> decltype(body()) {
	using Result = decltype(body());
	char *secret = pg::ToPalloc([&] { return conninfo::PasswordOf(dsn != nullptr ? dsn : ""); });
	if (secret[0] != '\0')
		ScrubActivity(secret);
	MemoryContext caller = CurrentMemoryContext;
	Result result{};
	Result *volatile result_slot = &result; /* never return from inside PG_TRY */
	PG_TRY();
	{
		*result_slot = body();
	}
	PG_CATCH();
	{
		MemoryContextSwitchTo(caller);
		ErrorData *edata = CopyErrorData();
		FlushErrorState();
		edata->hide_stmt = true;
		if (secret[0] != '\0') {
			edata->message = ScrubText(edata->message, secret);
			edata->detail = ScrubText(edata->detail, secret);
			edata->hint = ScrubText(edata->hint, secret);
			edata->context = ScrubText(edata->context, secret);
		}
		ReThrowError(edata);
	}
	PG_END_TRY();
	return result;
}

} // namespace concord::sqlapi

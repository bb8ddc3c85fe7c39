/*
 * pg_guard.hpp — the one boundary between C++ and PostgreSQL error handling.
 *
 * PostgreSQL raises errors with ereport(ERROR), which longjmps; C++ unwinds
 * with exceptions.  Neither may cross the other.  concord keeps them apart
 * by construction:
 *
 *   - pure C++ (common/) never calls PostgreSQL, so no ereport can jump
 *     over its objects;
 *   - PostgreSQL-facing code (extension/, worker/) is written in
 *     PostgreSQL's style and owns no C++ objects with destructors; it calls
 *     C++ only through interfaces that cannot throw: the no-allocation codec
 *     and decision table, and pg::ToPalloc for anything that builds strings;
 *   - every function PostgreSQL calls (SQL functions, output plugin
 *     callbacks, background worker mains, triggers) is wrapped in pg::Entry,
 *     which catches whatever C++ might still throw, closes the C++ scope,
 *     and only then raises it as ereport(ERROR).
 *
 *   pg::ToPalloc(build)  run C++ that builds a std::string and hand back a
 *                 palloc'd copy; never throws (a failure is raised after the
 *                 C++ scope closed), so PostgreSQL-style code may call it
 *                 anywhere, PG_TRY blocks included.
 *   pg::Entry(f)  the wrapper of every entry point, as above.
 *
 * Invariants kept by callers:
 *   - no C++ exception is thrown inside a PG_TRY block (it would leave
 *     PostgreSQL's exception stack pointing at a dead frame);
 *   - nothing calls ereport() from inside a catch block;
 *   - no database work happens inside PG_CATCH (errors are only copied).
 */
#pragma once

extern "C" {
#include "postgres.h"

#include "utils/elog.h"
#include "utils/memutils.h"
}

#include <cstring>
#include <exception>
#include <new>
#include <string>

namespace concord::pg {

/* Raises a copied C++ error message as a PostgreSQL ERROR (never returns). */
[[noreturn]] inline void RaiseCppError(const char *message) {
	ereport(ERROR, (errcode(ERRCODE_INTERNAL_ERROR), errmsg("concord internal error: %s", message)));
	pg_unreachable();
}

/*
 * Wraps a function PostgreSQL calls.  Any exception leaving f is turned into
 * an ereport(ERROR) after every C++ scope inside this wrapper has closed.
 * (A PostgreSQL ERROR raised inside f simply longjmps through: f's frames own
 * no C++ objects.)
 */
template <typename F>
auto Entry(F &&f) -> decltype(f()) {
	char message[512];
	message[0] = '\0';
	try {
		return f();
	} catch (const std::bad_alloc &) {
		std::strncpy(message, "out of memory in C++ code", sizeof(message) - 1);
	} catch (const std::exception &e) {
		std::strncpy(message, e.what(), sizeof(message) - 1);
	} catch (...) {
		std::strncpy(message, "unknown C++ exception", sizeof(message) - 1);
	}
	/* Every C++ scope is closed here; raising is safe. */
	message[sizeof(message) - 1] = '\0';
	RaiseCppError(message);
}

/*
 * Builds a string with C++ and returns a palloc'd copy, raising any failure
 * only after every C++ object involved is gone.  Never throws, so it is safe
 * to call from PostgreSQL-style code, inside PG_TRY blocks included:
 *     char *sql = pg::ToPalloc([&] { return sql::BuildInsert(...); });
 */
template <typename Build>
char *ToPalloc(Build &&build) {
	char *copy = nullptr;
	const char *failure = nullptr;
	try {
		std::string text = build();
		/* NO_OOM: a failed allocation returns NULL instead of longjmp'ing over `text`. */
		copy = static_cast<char *>(palloc_extended(text.size() + 1, MCXT_ALLOC_NO_OOM));
		if (copy != nullptr)
			std::memcpy(copy, text.c_str(), text.size() + 1);
		else
			failure = "out of memory";
	} catch (const std::bad_alloc &) {
		failure = "out of memory";
	} catch (...) {
		failure = "unexpected C++ exception while building a string";
	}
	if (failure != nullptr)
		ereport(ERROR, (errcode(ERRCODE_OUT_OF_MEMORY), errmsg("concord: %s", failure)));
	return copy;
}

} // namespace concord::pg

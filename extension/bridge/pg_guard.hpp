/*
 * pg_guard.hpp — the one boundary between C++ and PostgreSQL error handling.
 *
 * PostgreSQL raises errors with ereport(ERROR), which longjmps; C++ unwinds
 * with exceptions.  Neither may cross the other, so every place where the two
 * meet goes through one of these helpers:
 *
 *   pg::Call(f)   run PostgreSQL code f from C++; an ERROR inside f is caught
 *                 with PG_TRY, copied, and re-raised as a C++ pg::Error, so
 *                 C++ destructors above the call run normally.
 *   pg::Entry(f)  wrap every function PostgreSQL calls (SQL functions, output
 *                 plugin callbacks, hooks); any C++ exception escaping f is
 *                 caught, its text copied, the C++ scope closed, and only then
 *                 raised as ereport(ERROR).  A pg::Error is re-raised with its
 *                 original SQLSTATE, message, detail and hint.
 *
 * Invariants kept by callers:
 *   - code inside pg::Call owns no object with a destructor;
 *   - nothing calls ereport() from inside a catch block;
 *   - no database work happens inside PG_CATCH (we only copy the error).
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
#include <type_traits>
#include <utility>

namespace concord::pg {

/*
 * A PostgreSQL error travelling through C++ frames.  Owns a copy of the
 * ErrorData, allocated in the memory context that was current when the guarded
 * call began (so it survives until the error is re-raised).
 */
class Error final : public std::exception {
public:
	explicit Error(ErrorData *edata) noexcept : edata_(edata) {}
	Error(Error &&other) noexcept : edata_(std::exchange(other.edata_, nullptr)) {}
	Error(const Error &) = delete;
	Error &operator=(const Error &) = delete;
	~Error() override = default; /* edata_ lives in a PostgreSQL memory context */

	const char *what() const noexcept override {
		return edata_ && edata_->message ? edata_->message : "PostgreSQL error";
	}
	int sqlerrcode() const noexcept { return edata_ ? edata_->sqlerrcode : 0; }
	/* Hands the ErrorData to the caller, who re-raises it. */
	ErrorData *Release() noexcept { return std::exchange(edata_, nullptr); }

private:
	ErrorData *edata_;
};

namespace detail {

/* Copies the current error out of the error stack and clears it. */
inline ErrorData *TakeCurrentError(MemoryContext target) {
	MemoryContextSwitchTo(target);
	ErrorData *edata = CopyErrorData();
	FlushErrorState();
	return edata;
}

} // namespace detail

/*
 * Runs f, which calls PostgreSQL, converting an ERROR into pg::Error.
 * f must not own C++ objects with destructors (the longjmp would skip them).
 */
template <typename F>
auto Call(F &&f) -> decltype(f()) {
	using Result = decltype(f());
	MemoryContext caller_context = CurrentMemoryContext;
	ErrorData *volatile failure = nullptr;
	if constexpr (std::is_void_v<Result>) {
		PG_TRY();
		{
			f();
		}
		PG_CATCH();
		{
			failure = detail::TakeCurrentError(caller_context);
		}
		PG_END_TRY();
		if (failure != nullptr)
			throw Error(failure);
	} else {
		static_assert(std::is_trivially_copyable_v<Result>,
		              "pg::Call results must be plain values (Datums, pointers, scalars)");
		Result result{};
		Result *volatile result_slot = &result;
		PG_TRY();
		{
			*result_slot = f();
		}
		PG_CATCH();
		{
			failure = detail::TakeCurrentError(caller_context);
		}
		PG_END_TRY();
		if (failure != nullptr)
			throw Error(failure);
		return result;
	}
}

/* Raises a copied C++ error message as a PostgreSQL ERROR (never returns). */
[[noreturn]] inline void RaiseCppError(const char *message) {
	ereport(ERROR, (errcode(ERRCODE_INTERNAL_ERROR), errmsg("concord internal error: %s", message)));
	pg_unreachable();
}

/*
 * Wraps a function PostgreSQL calls.  Any exception leaving f is turned into
 * an ereport(ERROR) after every C++ scope inside this wrapper has closed.
 */
template <typename F>
auto Entry(F &&f) -> decltype(f()) {
	ErrorData *pg_failure = nullptr;
	char message[512];
	message[0] = '\0';
	try {
		return f();
	} catch (Error &e) {
		pg_failure = e.Release();
	} catch (const std::bad_alloc &) {
		std::strncpy(message, "out of memory in C++ code", sizeof(message) - 1);
	} catch (const std::exception &e) {
		std::strncpy(message, e.what(), sizeof(message) - 1);
	} catch (...) {
		std::strncpy(message, "unknown C++ exception", sizeof(message) - 1);
	}
	/* Every C++ scope is closed here; raising is safe. */
	message[sizeof(message) - 1] = '\0';
	if (pg_failure != nullptr)
		ReThrowError(pg_failure);
	RaiseCppError(message);
}

/* Copies a std::string into palloc'd memory without letting an ERROR cross it. */
inline char *ToPalloc(const std::string &text) {
	const char *src = text.c_str();
	size_t len = text.size();
	return Call([src, len]() -> char * { return pnstrdup(src, len); });
}

} // namespace concord::pg

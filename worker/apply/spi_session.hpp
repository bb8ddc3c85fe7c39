/*
 * spi_session.hpp — the SPI connection of the remote transaction being
 * applied, opened at its first statement rather than at its BEGIN.
 *
 * Most applied transactions run no SQL statement at all: the direct path
 * (direct_apply.hpp) writes rows through the executor's row-level helpers.
 * Connecting at every BEGIN and finishing at every COMMIT created and
 * deleted two memory contexts per transaction for nothing (about 400 of
 * the 37,000 instructions a single-row insert costs the apply worker).
 *
 * Every SPI statement the apply worker runs goes through ExecutePlan or
 * calls ConnectSpi first.  The connection is made in the transaction's top
 * level: one made inside a subtransaction would be torn down with it, so
 * ConnectSpi refuses there (connect before starting one).
 */
#pragma once

extern "C" {
#include "postgres.h"

#include "executor/spi.h"
}

namespace concord::apply {

/* Connects to SPI unless this remote transaction already has; the caller's memory context stays current. */
void ConnectSpi();

/*
 * SPI_execute_plan (never read-only) after ConnectSpi; raises "concord:
 * <what> [on "<relation>"] failed: <result>" unless SPI returns `expected`.
 * The rows it read or wrote are in SPI_processed / SPI_tuptable.
 */
void ExecutePlan(SPIPlanPtr plan, Datum *values, const char *nulls, long count, int expected, const char *what,
                 const char *relation = nullptr);

/* ExecutePlan's check, for a statement run without a plan (SPI_execute...). */
void RequireSpiResult(int rc, int expected, const char *what, const char *relation = nullptr);

/* At COMMIT: finishes the connection if the transaction made one. */
void FinishSpi();

/* After an abort, which closed any connection itself. */
void ForgetSpi();

} // namespace concord::apply

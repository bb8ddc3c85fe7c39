/*
 * spi_session.cpp — the remote transaction's SPI connection; see
 * spi_session.hpp.
 */
#include "worker/apply/spi_session.hpp"

extern "C" {
#include "access/xact.h"
#include "utils/memutils.h"
}

namespace concord::apply {

namespace {

bool connected = false;

} // namespace

void ConnectSpi() {
	if (connected)
		return;
	if (GetCurrentTransactionNestLevel() != 1)
		elog(ERROR, "concord: SPI connection requested inside a subtransaction");
	/*
	 * SPI_finish returns to the context current at SPI_connect; the caller's
	 * may be gone by COMMIT (an executor state's, say), the transaction's is
	 * not.
	 */
	MemoryContext caller = MemoryContextSwitchTo(TopTransactionContext);
	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "concord: SPI_connect failed");
	MemoryContextSwitchTo(caller);
	connected = true;
}

void RequireSpiResult(int rc, int expected, const char *what, const char *relation) {
	if (rc == expected)
		return;
	if (relation != nullptr)
		elog(ERROR, "concord: %s on \"%s\" failed: %s", what, relation, SPI_result_code_string(rc));
	elog(ERROR, "concord: %s failed: %s", what, SPI_result_code_string(rc));
}

void ExecutePlan(SPIPlanPtr plan, Datum *values, const char *nulls, long count, int expected, const char *what,
                 const char *relation) {
	ConnectSpi();
	RequireSpiResult(SPI_execute_plan(plan, values, nulls, false, count), expected, what, relation);
}

void FinishSpi() {
	if (!connected)
		return;
	connected = false;
	if (SPI_finish() != SPI_OK_FINISH)
		elog(ERROR, "concord: SPI_finish failed");
}

void ForgetSpi() { connected = false; }

} // namespace concord::apply

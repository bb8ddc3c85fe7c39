/*
 * skip.hpp — recording a transaction the operator chose to skip.
 */
#pragma once

extern "C" {
#include "postgres.h"

#include "access/xlogdefs.h"
}

namespace concord::apply {

/*
 * Inside the (otherwise empty) local transaction of a skipped remote
 * transaction: writes one concord.conflicts row saying what was skipped.
 */
void RecordSkippedTransaction(XLogRecPtr remote_end_lsn);

} // namespace concord::apply

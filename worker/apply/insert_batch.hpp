/*
 * insert_batch.hpp — consecutive INSERTs of one relation applied together.
 *
 * Inside a remote transaction, runs of inserts into the same table are
 * gathered (up to kMaxBatchRows) and applied with one COPY, or one prepared
 * INSERT ... SELECT FROM unnest(arrays) ... ON CONFLICT DO NOTHING (see
 * insert_batch.cpp), which pays the executor's start-up once per batch
 * instead of once per row.
 * Rows the statement did not insert (key taken or tombstoned) then go
 * through the conflict slow path one by one, in their original order; rows
 * it did insert meet themselves there and are skipped.  Any other message
 * flushes the batch first, so changes apply in the peer's order.
 */
#pragma once

extern "C" {
#include "postgres.h"
}

#include "worker/apply/relation_map.hpp"
#include "worker/apply/tuple_values.hpp"

namespace concord::apply {

/*
 * Rows per batch.  Not more: COPY's multi-insert creates a slot per
 * buffered row, each pinning the same tuple descriptor in the resource
 * owner, whose hash then puts every pin in one collision chain — the cost per
 * row grows with the batch (1000-row batches spent over a third of a bulk
 * apply there; 100-row batches applied a 1,000,000-row transaction with 40%
 * less CPU, and 50 gained nothing more).
 */
inline constexpr int kMaxBatchRows = 100;
/* A batch of large rows is applied early, so memory stays flat in row size too. */
inline constexpr size_t kMaxBatchBytes = 8 * 1024 * 1024;

/* Memory the caller reads a batched row into (lives until the batch is flushed). */
MemoryContext BatchContext();

/* True if inserts into this target may be batched. */
bool CanBatch(const LocalTarget *t);

/*
 * Call before reading a row of `rel` into BatchContext(): applies a batch of
 * another relation first (flushing resets that memory, so never after).
 */
void PrepareBatchFor(RemoteRelation *rel);

/* Adds a row of the relation prepared for; applies the batch once it is full. */
void AddToBatch(RemoteRelation *rel, const TupleValues &row);

/* Applies what is gathered (no-op when empty). */
void FlushBatch();

/* Forgets what is gathered (the transaction is being abandoned). */
void DiscardBatch();

} // namespace concord::apply

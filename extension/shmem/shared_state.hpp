/*
 * shared_state.hpp — concord's shared memory: per-database manager slots and
 * per-peer apply status.
 *
 * Written by the supervisor, the per-database managers and the apply workers;
 * read by concord.peers and by pause()/unsubscribe()/wait.  All fields are
 * protected by `lock` except where noted.  A peer slot is identified by
 * (dboid, sub_id) and survives worker restarts, so the last error and the
 * failure count outlive the worker that hit them.
 */
#pragma once

extern "C" {
#include "postgres.h"

#include "access/xlogdefs.h"
#include "datatype/timestamp.h"
#include "port/atomics.h"
#include "storage/condition_variable.h"
#include "storage/latch.h"
#include "storage/lwlock.h"
}

namespace concord::shmem {

inline constexpr int kMaxDatabases = 64;
inline constexpr int kErrorLength = 1024;

enum class PeerStatus : uint8 {
	kStopped = 0,   /* no worker and none wanted yet */
	kConnecting,    /* worker started, not streaming yet */
	kStreaming,     /* receiving and applying */
	kPaused,        /* paused by the operator */
	kError,         /* last attempt failed; a retry is scheduled */
};

const char *PeerStatusName(PeerStatus status);

enum class DbState : uint8 {
	kUnused = 0,
	kWanted,        /* a manager should run here */
	kRunning,       /* manager started */
	kAbsent,        /* checked: concord is not configured in this database */
};

struct DbSlot {
	Oid dboid;
	DbState state;
	pid_t manager_pid;
	Latch *manager_latch;
	TimestampTz retry_at;   /* earliest restart after a manager crash */
};

struct PeerSlot {
	bool in_use;
	Oid dboid;
	Oid sub_id;
	/*
	 * When the slot was claimed: the manager releases a slot whose
	 * subscription its catalog snapshot does not list only if the slot is
	 * older than the snapshot (pause() or resume() may have claimed it for a
	 * subscription committed since).
	 */
	TimestampTz claimed_at;
	PeerStatus status;
	pid_t worker_pid;
	Latch *worker_latch;
	/* Operator requests, set by SQL functions, obeyed by the worker. */
	bool pause_requested;
	bool stop_requested;       /* unsubscribe: exit and stay stopped */
	bool skip_requested;       /* skip_transaction: skip the failing xact */
	XLogRecPtr skip_lsn;       /* the remote final LSN that is failing now */
	bool worker_quiescent;     /* worker acknowledged pause/stop between xacts */
	/* Progress (remote LSNs). */
	XLogRecPtr received_lsn;
	XLogRecPtr applied_lsn;
	XLogRecPtr peer_wal_end;
	TimestampTz last_applied_at;
	/*
	 * Every change of this peer committed before safe_time has been applied
	 * here (its commit timestamps; 0 = not known yet).  Tombstones older than
	 * every peer's safe_time can never again meet an older change.
	 */
	TimestampTz safe_time;
	/* Failures: shown until an apply succeeds; drive the restart back-off. */
	char last_error[kErrorLength];
	TimestampTz last_error_at;
	XLogRecPtr failing_lsn;    /* remote final LSN of the transaction that failed */
	/*
	 * A transaction applied optimistically (plain inserts) met an existing
	 * key: it is retried at once with every insert checked for conflicts.
	 */
	XLogRecPtr careful_lsn;
	int failures;
	TimestampTz retry_at;
};

inline constexpr int kMaxCopies = 8;
inline constexpr int kTombstoneBuckets = 64;
inline constexpr int kNameLength = 192;

/* Progress of one initial copy, for concord.copy_progress. */
struct CopySlot {
	bool in_use;
	Oid dboid;
	pid_t pid;
	char peer[kNameLength];
	char relation[kNameLength];   /* table being copied now */
	int tables_done;
	int tables_total;
	int64 rows;                    /* rows of the current table so far */
	int64 bytes;                   /* bytes of the current table so far */
	int64 total_rows;              /* all tables so far */
	int64 total_bytes;
	TimestampTz started_at;
};

/*
 * One more row of `bytes` bytes copied.  Only the copying backend writes the
 * counters, without the lock (once per row); concord.copy_progress reads
 * them with ReadCopySlot.  Each figure is written before those it must never
 * fall below (a total before its table's figure, bytes before rows) and read
 * after them, so no reader sees a total under its part or fewer bytes than
 * rows.
 */
inline void CountCopiedRow(CopySlot *slot, int64 bytes) {
	slot->total_bytes += bytes;
	slot->total_rows++;
	pg_write_barrier();
	slot->bytes += bytes;
	pg_write_barrier();
	slot->rows++;
}

/* A copy of *slot whose counters are consistent (see CountCopiedRow); call with the lock held. */
inline void ReadCopySlot(const CopySlot *slot, CopySlot *out) {
	*out = *slot;
	out->rows = slot->rows;
	pg_read_barrier();
	out->bytes = slot->bytes;
	pg_read_barrier();
	out->total_rows = slot->total_rows;
	out->total_bytes = slot->total_bytes;
}

struct SharedState {
	LWLock lock;
	ConditionVariable changed;  /* broadcast when a worker acknowledges a request */
	pid_t supervisor_pid;
	Latch *supervisor_latch;
	int max_peers;
	DbSlot databases[kMaxDatabases];
	CopySlot copies[kMaxCopies];
	/*
	 * Bumped (at commit) by every transaction that wrote a tombstone of a
	 * relation hashing to the bucket: a worker that saw no tombstones for a
	 * relation at epoch E may skip looking for them while the epoch is E.
	 */
	pg_atomic_uint64 tombstone_epoch[kTombstoneBuckets];
	PeerSlot peers[FLEXIBLE_ARRAY_MEMBER];
};

/* Set once the shared state is attached (every process after startup). */
extern SharedState *state;

/* Called from _PG_init (postmaster, shared_preload_libraries). */
void InstallHooks();

/* Finds the slot of (dboid, sub_id), or nullptr.  Caller holds the lock. */
PeerSlot *FindPeer(Oid dboid, Oid sub_id);
/*
 * Finds or claims the slot of (dboid, sub_id); nullptr if all are taken.
 * *created tells whether the slot is new.  Caller holds the lock exclusively.
 */
PeerSlot *ClaimPeer(Oid dboid, Oid sub_id, bool *created = nullptr);
/* Finds or claims the manager slot of a database.  Caller holds the lock exclusively. */
DbSlot *ClaimDatabase(Oid dboid);

/* The tombstone epoch of the bucket of relid (see SharedState). */
uint64 TombstoneEpoch(Oid relid);

/* Wakes the supervisor (no lock needed). */
void WakeSupervisor();
/* Wakes the manager of a database, if running. */
void WakeManager(Oid dboid);

/* Fails unless shared_preload_libraries loaded concord. */
void RequireLoaded();

} // namespace concord::shmem

/*
 * shared_state.cpp — allocation and lookup of concord's shared memory.
 */
#include "extension/shmem/shared_state.hpp"

extern "C" {
#include "miscadmin.h"
#include "storage/ipc.h"
#include "storage/shmem.h"
#include "storage/proc.h"
#include "utils/elog.h"
}

#include "extension/settings.hpp"
#include "extension/shmem/writer_window.hpp"

namespace concord::shmem {

SharedState *state = nullptr;

namespace {

shmem_request_hook_type prev_shmem_request_hook = nullptr;
shmem_startup_hook_type prev_shmem_startup_hook = nullptr;
int lock_tranche_id = 0;

Size SharedStateSize() {
	return add_size(offsetof(SharedState, peers), mul_size(sizeof(PeerSlot), settings::max_peers));
}

void RequestSharedMemory() {
	if (prev_shmem_request_hook)
		prev_shmem_request_hook();
	RequestAddinShmemSpace(SharedStateSize());
	RequestAddinShmemSpace(WriterWindowsSize());
}

void StartupSharedMemory() {
	if (prev_shmem_startup_hook)
		prev_shmem_startup_hook();

	LWLockAcquire(AddinShmemInitLock, LW_EXCLUSIVE);
	bool found = false;
	state = static_cast<SharedState *>(ShmemInitStruct("concord", SharedStateSize(), &found));
	if (!found) {
		memset(state, 0, SharedStateSize());
		lock_tranche_id = LWLockNewTrancheId();
		LWLockInitialize(&state->lock, lock_tranche_id);
		ConditionVariableInit(&state->changed);
		for (int i = 0; i < kTombstoneBuckets; i++)
			pg_atomic_init_u64(&state->tombstone_epoch[i], 1);
		state->max_peers = settings::max_peers;
	}
	StartupWriterWindows();
	LWLockRelease(AddinShmemInitLock);
	/* Every process names the tranche so wait events read "concord". */
	LWLockRegisterTranche(state->lock.tranche, "concord");
}

} // namespace

const char *PeerStatusName(PeerStatus status) {
	switch (status) {
	case PeerStatus::kStopped:
		return "stopped";
	case PeerStatus::kConnecting:
		return "connecting";
	case PeerStatus::kStreaming:
		return "streaming";
	case PeerStatus::kPaused:
		return "paused";
	case PeerStatus::kError:
		return "error";
	}
	return "unknown";
}

void InstallHooks() {
	prev_shmem_request_hook = shmem_request_hook;
	shmem_request_hook = RequestSharedMemory;
	prev_shmem_startup_hook = shmem_startup_hook;
	shmem_startup_hook = StartupSharedMemory;
}

void RequireLoaded() {
	if (state == nullptr)
		ereport(ERROR, (errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
		                errmsg("concord is not loaded through shared_preload_libraries"),
		                errhint("Add concord to shared_preload_libraries and restart the server.")));
}

PeerSlot *FindPeer(Oid dboid, Oid sub_id) {
	for (int i = 0; i < state->max_peers; i++) {
		PeerSlot *p = &state->peers[i];
		if (p->in_use && p->dboid == dboid && p->sub_id == sub_id)
			return p;
	}
	return nullptr;
}

PeerSlot *ClaimPeer(Oid dboid, Oid sub_id, bool *created) {
	if (created != nullptr)
		*created = false;
	PeerSlot *found = FindPeer(dboid, sub_id);
	if (found != nullptr)
		return found;
	for (int i = 0; i < state->max_peers; i++) {
		PeerSlot *p = &state->peers[i];
		if (!p->in_use) {
			memset(p, 0, sizeof(*p));
			p->in_use = true;
			p->dboid = dboid;
			p->sub_id = sub_id;
			p->claimed_at = GetCurrentTimestamp();
			p->status = PeerStatus::kStopped;
			if (created != nullptr)
				*created = true;
			return p;
		}
	}
	return nullptr;
}

DbSlot *ClaimDatabase(Oid dboid) {
	DbSlot *free_slot = nullptr;
	for (int i = 0; i < kMaxDatabases; i++) {
		DbSlot *d = &state->databases[i];
		if (d->state != DbState::kUnused && d->dboid == dboid)
			return d;
		if (d->state == DbState::kUnused && free_slot == nullptr)
			free_slot = d;
	}
	if (free_slot != nullptr) {
		memset(free_slot, 0, sizeof(*free_slot));
		free_slot->dboid = dboid;
		free_slot->state = DbState::kAbsent;
	}
	return free_slot;
}

uint64 TombstoneEpoch(Oid relid) {
	return pg_atomic_read_u64(&state->tombstone_epoch[relid % kTombstoneBuckets]);
}

void WakeSupervisor() {
	if (state == nullptr)
		return;
	LWLockAcquire(&state->lock, LW_SHARED);
	Latch *latch = state->supervisor_latch;
	if (latch != nullptr)
		SetLatch(latch);
	LWLockRelease(&state->lock);
}

void WakeManager(Oid dboid) {
	if (state == nullptr)
		return;
	LWLockAcquire(&state->lock, LW_SHARED);
	for (int i = 0; i < kMaxDatabases; i++) {
		DbSlot *d = &state->databases[i];
		if (d->state != DbState::kUnused && d->dboid == dboid && d->manager_latch != nullptr)
			SetLatch(d->manager_latch);
	}
	LWLockRelease(&state->lock);
}

} // namespace concord::shmem

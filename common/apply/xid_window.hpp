/*
 * xid_window.hpp — which recent local transactions an apply worker committed
 * itself (pure C++).
 *
 * Why: for each row a change meets, the apply guard asks whether this peer's
 * own apply wrote the row last (then the change cannot conflict with it).
 * PostgreSQL keeps that answer in the commit-timestamp records, whose shared
 * buffers hold 819 transactions per 2 MB of shared_buffers; for a row written
 * further back every change pays a file read under a lock.  The apply worker
 * knows which transactions it committed, so it keeps them in a bitmap over
 * the most recent kBits transaction ids, and looks there first.
 *
 * Only a "yes" is trusted.  Contains(x) is true only if x was recorded, and a
 * transaction is recorded only as the worker commits it through the peer's
 * replication origin.  "No" means "not known here": the caller asks the
 * commit-timestamp records as before.  A bit left unset (a commit whose
 * recording was cut short, another process committing with the origin, a
 * transaction older than the window) therefore costs speed, never a wrong
 * answer.
 *
 * Transaction ids: the window's bounds are 64-bit full ids (epoch and xid),
 * so a window left alone through any number of wraparounds is never taken
 * for a current one.  A 32-bit row xid is placed relative to `high`; the
 * worker advances `high` to the newest assigned xid before each transaction
 * it applies (Advance), so every xid a live row can carry is then within
 * 2^31 of it and the placement is exact.
 *
 * The state is a plain struct so that it can live in shared memory (it
 * outlives worker restarts); one process at a time uses a window.
 */
#pragma once

#include <cstdint>
#include <cstring>

namespace concord::apply {

/* A transaction id below this is one of PostgreSQL's special ids (invalid, bootstrap, frozen). */
inline constexpr uint32_t kFirstNormalXid = 3;

struct XidWindowState {
	static constexpr uint64_t kBits = uint64_t{1} << 21; /* 256 KiB of bits */
	static constexpr uint64_t kWords = kBits / 64;

	uint64_t low;  /* oldest full xid the window answers for */
	uint64_t high; /* newest full xid the window answers for; low > high: empty */
	uint64_t words[kWords];
};

class XidWindow {
public:
	explicit XidWindow(XidWindowState *s) : s_(s) {}

	/* Forgets everything; the window will answer for xids from next_full on (never a special xid). */
	void Reset(uint64_t next_full) {
		if (next_full < kFirstNormalXid)
			next_full = kFirstNormalXid;
		s_->low = next_full;
		s_->high = next_full - 1;
		std::memset(s_->words, 0, sizeof(s_->words));
	}

	/*
	 * Makes the window answer for xids up to `through`: bits of xids newly
	 * covered are cleared (they may hold a recording from kBits xids ago),
	 * and the oldest fall out.
	 */
	void Advance(uint64_t through) {
		if (through <= s_->high)
			return;
		uint64_t gap = through - s_->high;
		if (gap >= XidWindowState::kBits)
			std::memset(s_->words, 0, sizeof(s_->words));
		else
			ClearRange(s_->high + 1, gap);
		s_->high = through;
		if (s_->high - s_->low + 1 > XidWindowState::kBits)
			s_->low = s_->high - XidWindowState::kBits + 1;
	}

	/* Records that the worker committed full xid `xid` (advancing the window to it if needed). */
	void Record(uint64_t xid) {
		Advance(xid);
		if (xid >= s_->low)
			s_->words[Word(xid)] |= Bit(xid);
	}

	/* True only if `xid` (a row's 32-bit xmin) was recorded; false also means "not known". */
	bool Contains(uint32_t xid) const {
		if (xid < kFirstNormalXid || s_->high < s_->low)
			return false;
		auto behind = static_cast<int32_t>(static_cast<uint32_t>(s_->high) - xid);
		if (behind < 0)
			return false; /* newer than anything recorded */
		uint64_t full = s_->high - static_cast<uint64_t>(behind);
		if (full < s_->low)
			return false;
		return (s_->words[Word(full)] & Bit(full)) != 0;
	}

	/* The full id of a subtransaction's xid, from its top-level transaction's full id. */
	static uint64_t WidenChild(uint64_t top_full, uint32_t child) {
		auto delta = static_cast<int32_t>(child - static_cast<uint32_t>(top_full));
		return top_full + static_cast<uint64_t>(static_cast<int64_t>(delta));
	}

private:
	static uint64_t Word(uint64_t xid) { return (xid % XidWindowState::kBits) / 64; }
	static uint64_t Bit(uint64_t xid) { return uint64_t{1} << (xid % 64); }

	/* Clears the bits of `count` (< kBits) consecutive xids from `first`. */
	void ClearRange(uint64_t first, uint64_t count) {
		while (count > 0 && first % 64 != 0) {
			s_->words[Word(first)] &= ~Bit(first);
			first++;
			count--;
		}
		while (count >= 64) {
			s_->words[Word(first)] = 0;
			first += 64;
			count -= 64;
		}
		while (count > 0) {
			s_->words[Word(first)] &= ~Bit(first);
			first++;
			count--;
		}
	}

	XidWindowState *s_;
};

} // namespace concord::apply

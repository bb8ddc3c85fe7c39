/*
 * flush_tracker.hpp — which remote positions may be reported as flushed (pure C++).
 *
 * The apply worker commits with synchronous_commit = off, so a local commit
 * can be lost in a crash until the local WAL is flushed.  Reporting the remote
 * end LSN of such a commit to the peer would let the peer discard WAL we still
 * need.  The tracker remembers (local commit end, remote commit end) pairs and
 * releases a remote position only once the local WAL is flushed past its
 * local commit.
 *
 * Invariants: reported positions never go backwards; a remote position is
 * never released before its local commit is flushed.  Storage is a fixed ring
 * (trivially destructible, no allocation); when it is full the newest entry
 * absorbs the new one, which only delays a release, never hastens it.
 */
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>

namespace concord::apply {

class FlushTracker {
public:
	static constexpr size_t kCapacity = 4096;

	/* Records a committed remote transaction. */
	void Committed(uint64_t local_end, uint64_t remote_end) {
		if (count_ == kCapacity) {
			Entry &last = ring_[(head_ + count_ - 1) % kCapacity];
			last.local_end = local_end > last.local_end ? local_end : last.local_end;
			last.remote_end = remote_end > last.remote_end ? remote_end : last.remote_end;
			return;
		}
		ring_[(head_ + count_) % kCapacity] = {local_end, remote_end};
		count_++;
	}

	/*
	 * Given how far local WAL is flushed, returns the highest remote position
	 * that is durable here (0 if none yet), and forgets what is settled.
	 */
	uint64_t Durable(uint64_t local_flushed) {
		while (count_ > 0 && ring_[head_].local_end <= local_flushed) {
			if (ring_[head_].remote_end > durable_remote_)
				durable_remote_ = ring_[head_].remote_end;
			head_ = (head_ + 1) % kCapacity;
			count_--;
		}
		return durable_remote_;
	}

	/* True when every recorded commit is durable. */
	bool AllDurable() const { return count_ == 0; }
	size_t pending() const { return count_; }

	/*
	 * Raises the durable position without a commit: used when the peer's
	 * stream moved past WAL that holds nothing for us (keepalives while idle).
	 * Ignored while commits are pending, so it never overtakes one.
	 */
	void AdvanceIdle(uint64_t remote_pos) {
		if (count_ == 0 && remote_pos > durable_remote_)
			durable_remote_ = remote_pos;
	}

private:
	struct Entry {
		uint64_t local_end;
		uint64_t remote_end;
	};
	std::array<Entry, kCapacity> ring_{};
	size_t head_ = 0;
	size_t count_ = 0;
	uint64_t durable_remote_ = 0;
};

} // namespace concord::apply

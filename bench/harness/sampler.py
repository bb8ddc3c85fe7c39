"""sampler.py — peak memory, CPU time and context switches of the apply worker and the walsender of a link.

A thread finds the two processes (they start when the link is resumed) and
reads /proc/<pid>/status and /proc/<pid>/stat every `interval` seconds until
stopped:

  VmHWM     the kernel's peak resident set size of the process since it
            started (the figure asked for).  It counts shared memory the
            process touched, so it grows with the number of shared_buffers
            pages a transaction writes, for every system alike.
  RssAnon   private (anonymous) resident memory, sampled; its peak is what a
            process allocates for itself (reorder buffers, caches, tuples),
            and is the figure the "memory flat in transaction size" target is
            judged on.

  CPU       user + system CPU seconds the process has used (utime + stime
            of /proc/<pid>/stat), last sample: the CPU a catch-up cost each
            side, which tells a slower apply from one that waits for data.
  switches  voluntary (the process waited) and involuntary (the scheduler
            took the CPU away) context switches, last sample.

Both processes are fresh for each catch-up run (pause ends them), so VmHWM
and the counters are those of that run.
"""
import os
import threading

FIELDS = ("VmHWM", "VmRSS", "RssAnon", "RssShmem")
# Cumulative counters of /proc/<pid>/status: the last sample is the run's total.
SWITCHES = ("voluntary_ctxt_switches", "nonvoluntary_ctxt_switches")


def read_status(pid):
    """{field: kB} from /proc/<pid>/status, or None if the process is gone."""
    out = {}
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                key, _, rest = line.partition(":")
                if key in FIELDS or key in SWITCHES:
                    out[key] = int(rest.split()[0])
    except (OSError, ValueError, IndexError):
        return None
    return out


TICKS_PER_S = os.sysconf("SC_CLK_TCK")


def read_cpu_s(pid):
    """utime + stime of the process in seconds, or None if it is gone."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            # the command name (field 2) may hold spaces; fields after ")" are fixed
            fields = f.read().rpartition(")")[2].split()
        return (int(fields[11]) + int(fields[12])) / TICKS_PER_S
    except (OSError, ValueError, IndexError):
        return None


class Sampler(threading.Thread):
    def __init__(self, link, interval=0.1):
        super().__init__(daemon=True)
        self.link = link
        self.interval = interval
        self.stop_event = threading.Event()
        self.peak = {"apply": {}, "walsender": {}}
        self.pids = {"apply": None, "walsender": None}
        self.cpu_s = {"apply": None, "walsender": None}
        self.switches = {"apply": {}, "walsender": {}}
        self.error = None

    def _pid(self, role, conn_sub, conn_prov):
        # Own connections: the main thread keeps using the nodes' default ones.
        if role == "apply":
            return self.link.system.apply_pid(self.link, conn_sub)
        return self.link.system.walsender_pid(self.link, conn_prov)

    def run(self):
        try:
            conn_sub = self.link.subscriber.connect("concord_bench_sampler")
            conn_prov = self.link.provider.connect("concord_bench_sampler")
        except Exception as e:
            self.error = str(e)
            return
        try:
            while not self.stop_event.is_set():
                self.sample(conn_sub, conn_prov)
                self.stop_event.wait(self.interval)
            self.sample(conn_sub, conn_prov)
        except Exception as e:
            self.error = str(e)
        finally:
            conn_sub.close()
            conn_prov.close()

    def sample(self, conn_sub, conn_prov):
        for role in ("apply", "walsender"):
            if self.pids[role] is None:
                self.pids[role] = self._pid(role, conn_sub, conn_prov)
                if self.pids[role] is None:
                    continue
            st = read_status(self.pids[role])
            cpu = read_cpu_s(self.pids[role])
            if st is None or cpu is None:
                continue
            self.cpu_s[role] = cpu
            peak = self.peak[role]
            for k, v in st.items():
                if k in SWITCHES:
                    self.switches[role][k] = v
                else:
                    peak[k] = max(peak.get(k, 0), v)

    def stop(self):
        self.stop_event.set()
        self.join(timeout=10)
        out = {
            f"{role}_{k.lower()}_kb": self.peak[role].get(k) for role in ("apply", "walsender")
            for k in ("VmHWM", "RssAnon")
        }
        out.update({f"{role}_cpu_s": self.cpu_s[role] for role in ("apply", "walsender")})
        out.update({f"{role}_{k}": self.switches[role].get(k) for role in ("apply", "walsender") for k in SWITCHES})
        return out

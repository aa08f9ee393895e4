"""The Redis Cluster failover fault: both instances move to a local cluster (three masters, one
replica each, docker/redis-cluster.sh on ports 7010-7015), then, under load, the master owning the
slot of a receiver's channel is killed with kill -9. Its replica is promoted; each instance must
notice the lost node, subscribe its sharded channels again on the new topology, and tell every
open socket to catch up (`resync`), exactly as after a restart of a single Redis; no acked message
may be lost.
"""

import asyncio
import os
import signal
import subprocess
import time

from infra import log

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
SCRIPT = os.path.join(ROOT, "docker", "redis-cluster.sh")
BASE_PORT = int(os.environ.get("FAULTS_CLUSTER_PORT", 7010))
# Bounds, from the kill: the replica's promotion (node timeout 2 s, then an election) and the
# instances following it.
PROMOTION_BOUND = 15.0
RESUME_BOUND = 10.0


class RedisCluster:
    """A local Redis Cluster run by docker/redis-cluster.sh, its data under the suite's tmp."""

    def __init__(self, tmp, pids):
        self.dir = os.path.join(tmp, "redis-cluster")
        self.pids = pids
        self.env = {**os.environ, "REDIS_CLUSTER_PORT": str(BASE_PORT), "REDIS_CLUSTER_DIR": self.dir}
        self.started = False

    def script(self, action, timeout=60):
        done = subprocess.run(["bash", SCRIPT, action], env=self.env, capture_output=True,
                              text=True, timeout=timeout)
        if done.returncode != 0:
            raise RuntimeError(f"redis-cluster.sh {action}: {done.stderr.strip()}")
        return done.stdout.strip()

    def start(self):
        self.script("start")
        self.started = True
        for port in self.ports():
            self.pids.add(self.pid(port), f"redis-cluster-{port}")
        return self.script("nodes")

    def stop(self):
        if self.started:
            self.script("stop")
            self.started = False

    def ports(self):
        return range(BASE_PORT, BASE_PORT + 6)

    def pid(self, port):
        with open(os.path.join(self.dir, str(port), "redis.pid"), encoding="utf-8") as f:
            return int(f.read().strip())

    def cli(self, port, *args):
        done = subprocess.run(["redis-cli", "-p", str(port), *args], capture_output=True,
                              text=True, timeout=10)
        return done.stdout.strip()

    def master_of(self, key, ask_port):
        """The port of the master serving `key`'s slot, as node `ask_port` sees it."""
        slot = int(self.cli(ask_port, "CLUSTER", "KEYSLOT", key))
        for line in self.cli(ask_port, "CLUSTER", "NODES").splitlines():
            fields = line.split()
            if "master" not in fields[2] or "fail" in fields[2]:
                continue
            for span in fields[8:]:
                low, _, high = span.partition("-")
                if low.isdigit() and int(low) <= slot <= int(high or low):
                    return int(fields[1].split(":")[1].split("@")[0])
        return None

    def ok(self, port):
        return "cluster_state:ok" in self.cli(port, "CLUSTER", "INFO")


async def move_instances(suite, nodes):
    """Restarts A and B on the cluster and brings every client home again."""
    for name in ("A", "B"):
        inst = suite.instances[name]
        inst.env = {**inst.env, "REDIS_CLUSTER_NODES": nodes}
        inst.draining = True
        await asyncio.to_thread(inst.stop)
        await asyncio.to_thread(suite.start_instance, inst)
    await suite.rebalance()


async def fault_cluster_failover(suite, phase):
    cluster = RedisCluster(suite.tmp, suite.pids)
    suite.cluster = cluster
    log(f"  starting a Redis Cluster on ports {BASE_PORT}-{BASE_PORT + 5}; A and B move to it")
    nodes = await asyncio.to_thread(cluster.start)
    await move_instances(suite, nodes)
    suite.load_on = True
    await asyncio.sleep(3.0)
    receiver = suite.receivers[0]
    channel = f"{suite.prefix}user:{receiver.user_id}"
    victim = cluster.master_of(channel, BASE_PORT)
    survivor = next(port for port in cluster.ports() if port != victim)
    on_victim = [r for r in suite.receivers
                 if cluster.master_of(f"{suite.prefix}user:{r.user_id}", BASE_PORT) == victim]
    open_before = [c for c in suite.clients if c.ws is not None]
    t_kill = time.monotonic()
    log(f"  kill -9 the master on port {victim} (it serves {channel})")
    os.kill(cluster.pid(victim), signal.SIGKILL)
    promoted_at = None
    while time.monotonic() < t_kill + PROMOTION_BOUND:
        now_master = cluster.master_of(channel, survivor)
        if now_master not in (None, victim) and cluster.ok(survivor):
            promoted_at = time.monotonic() - t_kill
            break
        await asyncio.sleep(0.1)
    phase.check(f"the replica is promoted and the cluster is ok within {PROMOTION_BOUND:.0f}s",
                promoted_at is not None,
                f"after {promoted_at:.1f}s" if promoted_at is not None else "not promoted")
    resumed = await pushes_resume(suite, t_kill)
    recovery = max(resumed.values()) - t_kill if len(resumed) == 2 else None
    phase.recovery = recovery
    phase.figures["promotion_s"] = round(promoted_at, 2) if promoted_at is not None else None
    phase.check(f"live pushes resume on both instances within {RESUME_BOUND:.0f}s of the promotion",
                recovery is not None and promoted_at is not None
                and recovery <= promoted_at + RESUME_BOUND,
                f"after {recovery:.2f}s" if recovery is not None else f"resumed on {sorted(resumed)}")
    still_open = [c for c in open_before if c.ws is not None and c.connected_at < t_kill]
    told = [c for c in still_open
            if any(t > t_kill and r == "live_events_interrupted" for t, _, r in c.resyncs)]
    phase.check("every socket open through the failover got resync (live_events_interrupted)",
                still_open and len(told) == len(still_open), f"{len(told)} of {len(still_open)}")
    await asyncio.sleep(max(0.0, t_kill + 12.0 - time.monotonic()))
    if promoted_at is not None:
        check_live_on_the_moved_shard(suite, phase, on_victim, t_kill + promoted_at + 2.0)
    await suite.audit(phase)


def check_live_on_the_moved_shard(suite, phase, receivers, since):
    """Messages to receivers whose channel lived on the killed master, acked once the replica had
    taken over, arrive as live pushes: the channel was subscribed again on its new master (a gap
    the client closes with a sync would hide a subscription that never moved)."""
    ids = {r.user_id: r for r in receivers}
    later = [m for m in suite.messages
             if m.ack_id is not None and m.ack_t > since and m.peer_id in ids]
    pushed = [m for m in later if m.ack_id in ids[m.peer_id].push_ids]
    phase.check("messages to the moved shard's channels arrive live after the promotion",
                later and len(pushed) == len(later),
                f"{len(pushed)} of {len(later)} pushed live to {len(receivers)} receivers")


async def pushes_resume(suite, t_kill):
    """Per instance: when the first push arrived after its sockets were told to resync (which an
    instance does once its feed is live again on the new topology)."""
    resumed = {}
    deadline = t_kill + PROMOTION_BOUND + RESUME_BOUND
    while time.monotonic() < deadline and len(resumed) < 2:
        for name in ("A", "B"):
            told = [t for c in suite.clients for t, tag, _ in c.resyncs
                    if t > t_kill and tag and tag[0] == name]
            if not told or name in resumed:
                continue
            after = [t for t, tag in suite.pushes if t > max(told) and tag[0] == name]
            if after:
                resumed[name] = min(after)
        await asyncio.sleep(0.1)
    return resumed

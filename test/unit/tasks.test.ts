/** The scheduler's placement rules and the task store's exactly-once transitions (SQLite in memory). */
import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { Scheduler } from "../../src/coordinator/scheduler.js";
import { openDatabase } from "../../src/storage/database.js";
import type { NodeRecord } from "../../src/storage/nodes.js";
import { TaskRepository, type AttemptResult, type NewTask, type TaskRecord } from "../../src/storage/tasks.js";

function node(id: string, fields: Partial<NodeRecord> = {}): NodeRecord {
  return {
    id,
    name: id,
    public_key: `U${id}`,
    hostname: id,
    os: "linux",
    arch: "x64",
    ips: [],
    labels: {},
    capabilities: ["shell.exec"],
    version: "test",
    max_concurrent_tasks: 2,
    approved_at: 0,
    last_seen: Date.now(),
    load: null,
    status: "online",
    ...fields,
  } as NodeRecord;
}

let counter = 0;
function newTask(fields: Partial<NewTask> = {}): NewTask {
  counter += 1;
  return { id: `t${counter}`, kind: "command", command: "true", target: {}, requirements: {}, priority: 0, timeout_ms: 1000, max_retries: 0, submitted_by: "test", created_at: Date.now(), ...fields };
}

const ok: AttemptResult = { state: "succeeded", exit_code: 0, signal: null, stdout: "", stderr: "", truncated: false, output_file: false, started_at: 1, finished_at: 2, error: null };

describe("scheduler", () => {
  const repo = new TaskRepository(openDatabase(":memory:"));
  const queue = (tasks: NewTask[]): TaskRecord[] => {
    repo.insertMany(tasks);
    return tasks.map((t) => repo.get(t.id) as TaskRecord);
  };

  test("capacity: never more than max_concurrent_tasks per node, counting what already runs", () => {
    const nodes = [node("a", { max_concurrent_tasks: 1 }), node("b", { max_concurrent_tasks: 3 })];
    const placed = new Scheduler("least_loaded").place(queue(Array.from({ length: 6 }, () => newTask())), nodes, new Map([["b", 1]]));
    const per = (id: string): number => placed.assignments.filter((a) => a.node_id === id).length;
    assert.equal(per("a"), 1);
    assert.equal(per("b"), 2);
    assert.equal(placed.waiting.size, 3);
    assert.match([...placed.waiting.values()][0] ?? "", /waiting for a free slot: 2 matching node\(s\) all at max_concurrent_tasks/);
  });

  test("strategies: least_loaded spreads by free capacity, round_robin rotates, pinned sticks, random uses its source", () => {
    const nodes = [node("a", { max_concurrent_tasks: 10 }), node("b", { max_concurrent_tasks: 10 }), node("c", { max_concurrent_tasks: 10 })];
    const ids = (strategy: ConstructorParameters<typeof Scheduler>[0], random?: () => number): string[] =>
      new Scheduler(strategy, random).place(queue(Array.from({ length: 6 }, () => newTask())), nodes, new Map()).assignments.map((a) => a.node_id);
    assert.deepEqual(ids("least_loaded"), ["a", "b", "c", "a", "b", "c"]);
    assert.deepEqual(ids("round_robin"), ["a", "b", "c", "a", "b", "c"]);
    assert.deepEqual(ids("pinned"), ["a", "a", "a", "a", "a", "a"]);
    assert.deepEqual(ids("random", () => 0.99), ["c", "c", "c", "c", "c", "c"]);
    const loaded = [node("a", { max_concurrent_tasks: 4, load: { cpu: 90, memory: 0, disk: 0, running_tasks: 0, max_concurrent_tasks: 4 } }), node("b", { max_concurrent_tasks: 4, load: { cpu: 5, memory: 0, disk: 0, running_tasks: 0, max_concurrent_tasks: 4 } })];
    assert.equal(new Scheduler("least_loaded").place(queue([newTask()]), loaded, new Map()).assignments[0]?.node_id, "b", "equal slots: the idler CPU wins");
  });

  test("matching: target node and labels, required labels, capabilities, OS and skills; offline nodes never", () => {
    const nodes = [node("gpu", { labels: { gpu: "yes" }, capabilities: ["shell.exec", "skill:disk-usage"] }), node("mac", { os: "darwin" }), node("off", { status: "offline", labels: { gpu: "yes" } })];
    const place = (task: NewTask): { node?: string; reason?: string } => {
      const placed = new Scheduler("least_loaded").place(queue([task]), nodes, new Map());
      return { node: placed.assignments[0]?.node_id, reason: [...placed.waiting.values()][0] };
    };
    assert.equal(place(newTask({ target: { labels: { gpu: "yes" } } })).node, "gpu");
    assert.equal(place(newTask({ requirements: { os: "darwin" } })).node, "mac");
    assert.equal(place(newTask({ kind: "skill", command: undefined, skill: "disk-usage", params: {} })).node, "gpu");
    assert.equal(place(newTask({ target: { node: "mac" } })).node, "mac");
    assert.match(place(newTask({ target: { node: "off" } })).reason ?? "", /node off is offline/);
    assert.match(place(newTask({ target: { node: "gone" } })).reason ?? "", /node gone is not in the fleet/);
    assert.match(place(newTask({ requirements: { capabilities: ["camera.snap"] } })).reason ?? "", /no online node matches \(capabilities camera\.snap\): 2 missing camera\.snap/);
    assert.match(new Scheduler("least_loaded").place(queue([newTask()]), [node("x", { status: "offline" })], new Map()).waiting.values().next().value ?? "", /no node is online/);
  });
});

describe("task store", () => {
  test("an attempt's result is recorded once, however often it arrives", () => {
    const repo = new TaskRepository(openDatabase(":memory:"));
    const task = newTask();
    repo.insertMany([task]);
    assert.deepEqual(repo.assignMany([{ id: task.id, attempt: 1, node_id: "a" }], Date.now()).length, 1);
    assert.equal(repo.assignMany([{ id: task.id, attempt: 1, node_id: "b" }], Date.now()).length, 0, "no second placement of the same attempt");
    assert.equal(repo.markStarted(task.id, 1, 5, Date.now()), true);
    const first = repo.finish(task.id, 1, ok, Date.now());
    assert.equal(first.recorded, true);
    assert.equal(repo.finish(task.id, 1, { ...ok, state: "failed", exit_code: 9 }, Date.now()).recorded, false);
    const stored = repo.get(task.id);
    assert.equal(stored?.state, "succeeded");
    assert.equal(stored?.exit_code, 0);
    assert.equal(repo.attempts(task.id).length, 1);
  });

  test("failures retry until max_retries, a cancel stops retries, a rejection uses none", () => {
    const repo = new TaskRepository(openDatabase(":memory:"));
    const task = newTask({ max_retries: 1 });
    repo.insertMany([task]);
    repo.assignMany([{ id: task.id, attempt: 1, node_id: "a" }], Date.now());
    assert.equal(repo.reject(task.id, 1, "a was busy", Date.now()), true);
    assert.equal(repo.get(task.id)?.state, "queued");
    assert.equal(repo.get(task.id)?.failures, 0);
    repo.assignMany([{ id: task.id, attempt: 2, node_id: "a" }], Date.now());
    const lost = repo.finish(task.id, 2, { ...ok, state: "lost", exit_code: null, error: "node a went offline" }, Date.now());
    assert.equal(lost.recorded && lost.retried, true);
    assert.match(repo.get(task.id)?.reason ?? "", /retrying: attempt 2 on a was lost/);
    repo.assignMany([{ id: task.id, attempt: 3, node_id: "b" }], Date.now());
    assert.equal(repo.cancel(task.id, "by test", Date.now()), "requested");
    const end = repo.finish(task.id, 3, { ...ok, state: "failed", exit_code: 1 }, Date.now());
    assert.equal(end.recorded && !end.retried && end.task.state, "cancelled");
    assert.equal(repo.cancel(task.id, "again", Date.now()), "final");
    assert.equal(repo.cancel("nope", "x", Date.now()), "missing");
  });

  test("retention: finished tasks older than the cut are deleted with their attempts", () => {
    const repo = new TaskRepository(openDatabase(":memory:"));
    const task = newTask();
    repo.insertMany([task]);
    repo.assignMany([{ id: task.id, attempt: 1, node_id: "a" }], 1000);
    repo.finish(task.id, 1, ok, 1000);
    const keep = newTask();
    repo.insertMany([keep]);
    assert.deepEqual(repo.purge(2000), [task.id]);
    assert.equal(repo.get(task.id), undefined);
    assert.equal(repo.attempts(task.id).length, 0);
    assert.ok(repo.get(keep.id));
  });
});

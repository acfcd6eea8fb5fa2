/*
 * store.c - the SQLite backend: connections, migrations, the statement
 * table, and the single writer thread that turns concurrent writes into
 * group commits.
 *
 * Why one writer thread: SQLite admits one writer at a time anyway, and a
 * durable commit (synchronous=FULL) costs an fsync whatever it carries.
 * Callers hand their work to the writer as a job and sleep; the writer
 * takes every job that queued while the last commit was syncing, runs
 * each inside its own SAVEPOINT (so one failing job rolls back alone) in a
 * single BEGIN IMMEDIATE ... COMMIT, then wakes them all.  Under load the
 * fsync is shared by the whole batch; alone, a write costs one commit as
 * before.  See docs/internals/store.md.
 */
#include "autoconf.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "limits.h"
#include "log.h"
#include "store_impl.h"
#include "util.h"

#define TASK_READY_EXPR                                                     \
    "(t.status = 'todo' AND NOT EXISTS (SELECT 1 FROM task_deps d "         \
    "JOIN tasks u ON u.id = d.depends_on WHERE d.task_id = t.id "           \
    "AND u.status <> 'done'))"

/* True when the agent named by parameter N has every skill the task
 * requires (an unknown agent has none). */
#define TASK_SKILLS_OK(N)                                                   \
    "(NOT EXISTS (SELECT 1 FROM json_each(t.requires_skills) r"            \
    " WHERE r.value NOT IN (SELECT s.value FROM agents a,"                  \
    " json_each(a.skills) s WHERE a.id = " N ")))"

/* The columns of a task document, in the order store_task.c reads them. */
#define TASK_DOC_COLS                                                       \
    "t.id, t.title, t.body, t.status, t.priority, t.labels, t.assignee, "   \
    "t.lease_holder, t.lease_expires, t.attempt, t.version, t.result, "     \
    "t.created_at, t.updated_at, t.closed_at, "                             \
    "(SELECT json_group_array(depends_on) FROM (SELECT depends_on FROM "    \
    "task_deps WHERE task_id = t.id ORDER BY depends_on)), "                \
    TASK_READY_EXPR ", t.requires_skills"

/* The columns of an agent document, in the order store_agent.c reads
 * them; the last is the tasks it holds a lease on. */
#define AGENT_DOC_COLS                                                      \
    "a.id, a.kind, a.host, a.labels, a.skills, a.state, a.state_since, "    \
    "a.last_seen, a.timeout_seconds, a.version, a.created_at, "             \
    "a.updated_at, (SELECT json_group_array(id) FROM (SELECT id FROM "      \
    "tasks WHERE lease_holder = a.id AND status = 'in_progress' "           \
    "ORDER BY id)), a.pid, a.exit_status, a.restarts, a.jail"

/* The columns of a session document, in the order store_session.c reads
 * them. */
/* The columns of a metering row, in the order store_metering.c reads
 * them; the filter of its list and summary (?1 agent, ?2 model,
 * ?3 session: NULL = any; ?4 since, ?5 until: always bound, so the time
 * index serves a range); and the summary's sums per (group, model), since
 * a price is per model. */
#define METERING_ROW_COLS                                                   \
    "id, time, agent, session_id, source, provider, model, input_tokens, "  \
    "output_tokens, cache_read_tokens, cache_write_tokens, cost, "          \
    "prefix_drift"
#define METERING_FILTER                                                     \
    " time >= ?4 AND time < ?5 AND (?1 IS NULL OR agent = ?1)"             \
    " AND (?2 IS NULL OR model = ?2) AND (?3 IS NULL OR session_id = ?3)"
#define METERING_SUM(key)                                                   \
    "SELECT " key " AS k, model, count(*), sum(input_tokens),"              \
    " sum(output_tokens), sum(cache_read_tokens), sum(cache_write_tokens),"  \
    " sum(cost), count(cost), sum(prefix_drift) FROM metering WHERE"        \
    METERING_FILTER " GROUP BY k, model ORDER BY k, model"

#define SESSION_DOC_COLS                                                    \
    "id, agent, task_id, runner, path, started_at, ended_at, size, lines, " \
    "state, exit_status, prefix_sha256"

static const char *const statements[ST_COUNT] = {
    [ST_TASK_INSERT] =
        "INSERT INTO tasks(title, body, status, priority, labels, assignee,"
        " result, created_at, updated_at, closed_at, requires_skills)"
        " VALUES(?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?8, ?9, ?10)",
    [ST_TASK_SELECT] =
        "SELECT " TASK_DOC_COLS " FROM tasks t WHERE t.id = ?1",
    [ST_TASK_LIST] =
        "SELECT " TASK_DOC_COLS " FROM tasks t WHERE t.id > ?1"
        " AND (?2 IS NULL OR t.status IN (SELECT value FROM json_each(?2)))"
        " AND (?3 IS NULL OR t.assignee = ?3)"
        " AND (?4 IS NULL OR EXISTS (SELECT 1 FROM json_each(t.labels)"
        "      WHERE value = ?4))"
        " AND (?5 < 0 OR t.priority = ?5)"
        " AND (?6 = 0 OR " TASK_READY_EXPR ")"
        " AND (?8 IS NULL OR " TASK_SKILLS_OK("?8") ")"
        " ORDER BY t.id LIMIT ?7",
    [ST_TASK_READY] =
        "SELECT " TASK_DOC_COLS " FROM tasks t WHERE t.status = 'todo'"
        " AND " TASK_READY_EXPR
        " AND (?2 IS NULL OR " TASK_SKILLS_OK("?2") ")"
        " ORDER BY t.priority, t.created_at, t.id LIMIT ?1",
    [ST_TASK_NEXT_READY] =
        "SELECT t.id FROM tasks t WHERE t.status = 'todo'"
        " AND " TASK_READY_EXPR " AND " TASK_SKILLS_OK("?1")
        " ORDER BY t.priority, t.created_at, t.id LIMIT 1",
    [ST_TASK_SKILLS_OK] =
        "SELECT " TASK_SKILLS_OK("?2") " FROM tasks t WHERE t.id = ?1",
    [ST_TASK_EXISTS] =
        "SELECT 1 FROM tasks WHERE id = ?1",
    [ST_TASK_ROW] =
        "SELECT id, title, body, status, priority, labels, assignee,"
        " lease_holder, lease_expires, attempt, version, result,"
        " created_at, updated_at, closed_at, requires_skills"
        " FROM tasks WHERE id = ?1",
    [ST_TASK_IS_READY] =
        "SELECT " TASK_READY_EXPR " FROM tasks t WHERE t.id = ?1",
    [ST_TASK_UPDATE] =
        "UPDATE tasks SET title = ?2, body = ?3, status = ?4, priority = ?5,"
        " labels = ?6, assignee = ?7, lease_holder = ?8, lease_expires = ?9,"
        " attempt = ?10, version = ?11, result = ?12, updated_at = ?13,"
        " closed_at = ?14, requires_skills = ?15 WHERE id = ?1",
    [ST_TASK_DELETE] =
        "DELETE FROM tasks WHERE id = ?1",
    [ST_TASK_HAS_DEPENDENTS] =
        "SELECT group_concat(task_id, ', ') FROM (SELECT task_id FROM"
        " task_deps WHERE depends_on = ?1 ORDER BY task_id LIMIT 10)",
    [ST_TASK_COUNTS] =
        "SELECT status, count(*) FROM tasks GROUP BY status",
    [ST_TASK_REAP] =
        "SELECT id FROM tasks WHERE status = 'in_progress'"
        " AND lease_expires <= ?1 ORDER BY id LIMIT 1000",
    [ST_TASK_HELD_BY] =
        "SELECT id FROM tasks WHERE lease_holder = ?1"
        " AND status = 'in_progress' ORDER BY id",
    [ST_AGENT_INSERT] =
        "INSERT INTO agents(id, kind, host, labels, skills, state,"
        " state_since, last_seen, timeout_seconds, version, created_at,"
        " updated_at) VALUES(?1, ?2, ?3, ?4, ?5, 'idle', ?6, ?6, ?7, 1,"
        " ?6, ?6)",
    [ST_AGENT_SET_PROCESS] =
        "UPDATE agents SET pid = ?2, exit_status = ?3, restarts = ?4,"
        " jail = ?5 WHERE id = ?1",
    [ST_AGENT_SELECT] =
        "SELECT " AGENT_DOC_COLS " FROM agents a WHERE a.id = ?1",
    [ST_AGENT_LIST] =
        "SELECT " AGENT_DOC_COLS " FROM agents a WHERE a.id > ?1"
        " AND (?2 IS NULL OR a.state = ?2)"
        " AND (?3 IS NULL OR a.kind = ?3)"
        " AND (?4 IS NULL OR a.host = ?4)"
        " AND (?5 IS NULL OR EXISTS (SELECT 1 FROM json_each(a.labels)"
        "      WHERE value = ?5))"
        " AND (?6 IS NULL OR"
        "      (a.last_seen + a.timeout_seconds * 1000 >= ?7) = ?6)"
        " ORDER BY a.id LIMIT ?8",
    [ST_AGENT_ROW] =
        "SELECT id, kind, host, labels, skills, state, state_since,"
        " last_seen, timeout_seconds, version, created_at, updated_at"
        " FROM agents WHERE id = ?1",
    [ST_AGENT_UPDATE] =
        "UPDATE agents SET kind = ?2, host = ?3, labels = ?4, skills = ?5,"
        " state = ?6, state_since = ?7, last_seen = ?8,"
        " timeout_seconds = ?9, version = ?10, updated_at = ?11"
        " WHERE id = ?1",
    [ST_AGENT_DELETE] =
        "DELETE FROM agents WHERE id = ?1",
    [ST_AGENT_COUNTS] =
        "SELECT state, count(*),"
        " sum(last_seen + timeout_seconds * 1000 >= ?1)"
        " FROM agents GROUP BY state",
    [ST_AGENT_TOUCH] =
        "UPDATE agents SET last_seen = ?2 WHERE id = ?1",
    [ST_EVENT_INSERT] =
        "INSERT INTO events(time, type, subject, agent, data)"
        " VALUES(?1, ?2, ?3, ?4, ?5)",
    [ST_EVENT_AFTER] =
        "SELECT id, time, type, subject, agent, data FROM events"
        " WHERE id > ?1 ORDER BY id LIMIT ?2",
    [ST_EVENT_BOUNDS] =
        "SELECT coalesce(min(id), 0), coalesce(max(id), 0) FROM events",
    [ST_EVENT_PRUNE] =
        "DELETE FROM events WHERE (id <= (SELECT max(id) FROM events) - ?1"
        " OR time < ?2) AND id < (SELECT max(id) FROM events)",
    [ST_TRANSITION_INSERT] =
        "INSERT INTO agent_transitions(agent_id, time, from_state,"
        " to_state, reason, substate, truncated)"
        " VALUES(?1, ?2, ?3, ?4, ?5, ?6, ?7)",
    [ST_TRANSITION_LIST] =
        "SELECT time, from_state, to_state, reason, substate, truncated"
        " FROM agent_transitions WHERE agent_id = ?1"
        " ORDER BY seq DESC LIMIT ?2",
    [ST_TRANSITION_PRUNE] =
        "DELETE FROM agent_transitions WHERE agent_id = ?1 AND seq <="
        " (SELECT seq FROM agent_transitions WHERE agent_id = ?1"
        "  ORDER BY seq DESC LIMIT 1 OFFSET ?2)",
    [ST_SESSION_INSERT] =
        "INSERT INTO sessions(agent, task_id, runner, path, started_at,"
        " prefix_sha256) VALUES(?1, ?2, ?3, ?4, ?5, ?6)",
    [ST_SESSION_END] =
        "UPDATE sessions SET ended_at = ?2, size = ?3, lines = ?4,"
        " state = ?5, exit_status = ?6 WHERE id = ?1 AND ended_at IS NULL",
    [ST_SESSION_SELECT] =
        "SELECT " SESSION_DOC_COLS " FROM sessions WHERE id = ?1",
    [ST_SESSION_LIST] =
        "SELECT " SESSION_DOC_COLS " FROM sessions WHERE id < ?1"
        " AND (?2 IS NULL OR agent = ?2)"
        " AND (?3 IS NULL OR task_id = ?3)"
        " AND (?4 IS NULL OR (?4 = 'open' AND ended_at IS NULL)"
        "      OR state = ?4)"
        " AND (?5 IS NULL OR started_at >= ?5)"
        " AND (?6 IS NULL OR started_at < ?6)"
        " ORDER BY id DESC LIMIT ?7",
    [ST_SESSION_OPEN_ALL] =
        "SELECT s.id, s.path, s.started_at, a.state, a.state_since, a.pid,"
        " a.exit_status FROM sessions s LEFT JOIN agents a ON a.id = s.agent"
        " WHERE s.ended_at IS NULL ORDER BY s.id",
    [ST_SESSION_EXPIRED] =
        "SELECT id, path FROM sessions WHERE ended_at IS NOT NULL"
        " AND ended_at < ?1 ORDER BY id LIMIT ?2",
    [ST_SESSION_OLDEST] =
        "SELECT id, path, size FROM sessions WHERE ended_at IS NOT NULL"
        " ORDER BY id LIMIT ?1",
    [ST_SESSION_TOTAL] =
        "SELECT coalesce(sum(size), 0) FROM sessions",
    [ST_SESSION_DELETE] =
        "DELETE FROM sessions WHERE id = ?1 AND ended_at IS NOT NULL",
    [ST_PREFIX_GET] =
        "SELECT region1_sha256, inputs_sha256 FROM prompt_prefixes"
        " WHERE kind = ?1",
    [ST_PREFIX_PUT] =
        "INSERT INTO prompt_prefixes(kind, region1_sha256, inputs_sha256,"
        " first_seen, last_seen) VALUES(?1, ?2, ?3, ?4, ?4)"
        " ON CONFLICT(kind) DO UPDATE SET region1_sha256 = ?2,"
        " inputs_sha256 = ?3, last_seen = ?4",
    [ST_SESSION_PREFIX_GET] =
        "SELECT prefix_sha256 FROM sessions WHERE id = ?1",
    [ST_SESSION_PREFIX_SET] =
        "UPDATE sessions SET prefix_sha256 = ?2 WHERE id = ?1",
    [ST_HOST_UPSERT] =
        "INSERT INTO hosts(name, manifest, first_seen, reported_at,"
        " last_seen) VALUES(?1, ?2, ?3, ?3, ?3)"
        " ON CONFLICT(name) DO UPDATE SET manifest = ?2, reported_at = ?3,"
        " last_seen = ?3, reports = reports + 1",
    [ST_HOST_SELECT] =
        "SELECT name, manifest, first_seen, reported_at, last_seen, reports"
        " FROM hosts WHERE name = ?1",
    [ST_HOST_LIST] =
        "SELECT name, manifest, first_seen, reported_at, last_seen, reports"
        " FROM hosts WHERE name > ?1"
        " AND (?2 IS NULL OR (?2 = 1) = (last_seen >= ?3))"
        " ORDER BY name LIMIT ?4",
    [ST_HOST_COUNT] =
        "SELECT count(*), EXISTS (SELECT 1 FROM hosts WHERE name = ?1)"
        " FROM hosts",
    [ST_HOST_DELETE] =
        "DELETE FROM hosts WHERE name = ?1",
    [ST_METERING_INSERT] =
        "INSERT INTO metering(time, agent, session_id, source, provider,"
        " model, input_tokens, output_tokens, cache_read_tokens,"
        " cache_write_tokens, cost, prefix_drift)"
        " VALUES(?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12)",
    [ST_METERING_OPEN_SESSION] =
        "SELECT id FROM sessions WHERE agent = ?1 AND ended_at IS NULL"
        " ORDER BY started_at DESC, id DESC LIMIT 1",
    [ST_METERING_SESSION_EXISTS] =
        "SELECT 1 FROM sessions WHERE id = ?1",
    [ST_METERING_DRIFT_TAKE] =
        "DELETE FROM metering_drift WHERE session_id = ?1",
    [ST_METERING_DRIFT_MARK] =
        "INSERT OR REPLACE INTO metering_drift(session_id, time)"
        " VALUES(?1, ?2)",
    [ST_METERING_LIST] =
        "SELECT " METERING_ROW_COLS " FROM metering WHERE id < ?6 AND"
        METERING_FILTER " ORDER BY id DESC LIMIT ?7",
    [ST_METERING_SUM_AGENT] = METERING_SUM("agent"),
    [ST_METERING_SUM_MODEL] = METERING_SUM("model"),
    [ST_METERING_SUM_SESSION] = METERING_SUM("session_id"),
    [ST_METERING_SUM_DAY] =
        METERING_SUM("strftime('%Y-%m-%d', time / 1000, 'unixepoch')"),
    [ST_METERING_TOTALS_ADD] =
        "INSERT INTO metering_totals(model, calls, input_tokens,"
        " output_tokens, cache_read_tokens, cache_write_tokens, cost,"
        " cost_n, prefix_drift) VALUES(coalesce(?1, ''), 1, ?2, ?3, ?4, ?5,"
        " coalesce(?6, 0), ?6 IS NOT NULL, ?7)"
        " ON CONFLICT(model) DO UPDATE SET calls = calls + 1,"
        " input_tokens = input_tokens + excluded.input_tokens,"
        " output_tokens = output_tokens + excluded.output_tokens,"
        " cache_read_tokens = cache_read_tokens + excluded.cache_read_tokens,"
        " cache_write_tokens = cache_write_tokens"
        "  + excluded.cache_write_tokens,"
        " cost = cost + excluded.cost, cost_n = cost_n + excluded.cost_n,"
        " prefix_drift = prefix_drift + excluded.prefix_drift",
    [ST_METERING_TOTALS] =
        "SELECT nullif(model, '') AS k, nullif(model, ''), calls,"
        " input_tokens, output_tokens, cache_read_tokens,"
        " cache_write_tokens, cost, cost_n, prefix_drift"
        " FROM metering_totals ORDER BY model",
    [ST_METERING_PRUNE] =
        "DELETE FROM metering WHERE id IN (SELECT id FROM metering"
        " WHERE time < ?1 ORDER BY time LIMIT ?2)",
    [ST_DEP_INSERT] =
        "INSERT OR IGNORE INTO task_deps(task_id, depends_on) VALUES(?1, ?2)",
    [ST_DEP_DELETE] =
        "DELETE FROM task_deps WHERE task_id = ?1 AND depends_on = ?2",
    [ST_DEP_REACHES] =
        "WITH RECURSIVE r(x) AS (SELECT ?1 UNION SELECT d.depends_on FROM"
        " task_deps d JOIN r ON d.task_id = r.x) SELECT 1 FROM r"
        " WHERE x = ?2 LIMIT 1",
};

/*
 * Migrations: element i takes the schema from user_version i to i + 1.
 * Never edit one that has shipped; append a new one.
 */
static const char *const migrations[] = {
    /* 0 -> 1: the task board */
    "CREATE TABLE tasks ("
    "  id INTEGER PRIMARY KEY AUTOINCREMENT,"
    "  title TEXT NOT NULL,"
    "  body TEXT NOT NULL DEFAULT '',"
    "  status TEXT NOT NULL DEFAULT 'todo' CHECK (status IN ('todo',"
    "    'in_progress', 'blocked', 'review', 'done', 'cancelled')),"
    "  priority INTEGER NOT NULL DEFAULT 2 CHECK (priority BETWEEN 0 AND 4),"
    "  labels TEXT NOT NULL DEFAULT '[]' CHECK (json_valid(labels)),"
    "  assignee TEXT,"
    "  lease_holder TEXT,"
    "  lease_expires INTEGER,"
    "  attempt INTEGER NOT NULL DEFAULT 0,"
    "  version INTEGER NOT NULL DEFAULT 1,"
    "  result TEXT CHECK (result IS NULL OR json_valid(result)),"
    "  created_at INTEGER NOT NULL,"
    "  updated_at INTEGER NOT NULL,"
    "  closed_at INTEGER"
    ");"
    "CREATE INDEX tasks_ready ON tasks(status, priority, created_at, id);"
    "CREATE INDEX tasks_lease ON tasks(lease_expires)"
    "  WHERE status = 'in_progress';"
    "CREATE TABLE task_deps ("
    "  task_id INTEGER NOT NULL REFERENCES tasks(id) ON DELETE CASCADE,"
    "  depends_on INTEGER NOT NULL REFERENCES tasks(id) ON DELETE RESTRICT,"
    "  PRIMARY KEY (task_id, depends_on),"
    "  CHECK (task_id <> depends_on)"
    ") WITHOUT ROWID;"
    "CREATE INDEX task_deps_reverse ON task_deps(depends_on);",

    /* 1 -> 2: the agent registry, and the skills a task requires */
    "CREATE TABLE agents ("
    "  id TEXT PRIMARY KEY,"
    "  kind TEXT NOT NULL,"
    "  host TEXT NOT NULL,"
    "  labels TEXT NOT NULL DEFAULT '[]' CHECK (json_valid(labels)),"
    "  skills TEXT NOT NULL DEFAULT '[]' CHECK (json_valid(skills)),"
    "  state TEXT NOT NULL DEFAULT 'idle' CHECK (state IN ('idle',"
    "    'working', 'blocked', 'done', 'error')),"
    "  state_since INTEGER NOT NULL,"
    "  last_seen INTEGER NOT NULL,"
    "  timeout_seconds INTEGER NOT NULL,"
    "  version INTEGER NOT NULL DEFAULT 1,"
    "  created_at INTEGER NOT NULL,"
    "  updated_at INTEGER NOT NULL"
    ") WITHOUT ROWID;"
    "ALTER TABLE tasks ADD COLUMN requires_skills TEXT NOT NULL"
    "  DEFAULT '[]' CHECK (json_valid(requires_skills));"
    "CREATE INDEX tasks_holder ON tasks(lease_holder)"
    "  WHERE status = 'in_progress';",

    /* 2 -> 3: the event log, and each agent's state history */
    "CREATE TABLE events ("
    "  id INTEGER PRIMARY KEY AUTOINCREMENT,"
    "  time INTEGER NOT NULL,"
    "  type TEXT NOT NULL,"
    "  subject TEXT NOT NULL,"
    "  agent TEXT,"
    "  data TEXT NOT NULL CHECK (json_valid(data))"
    ");"
    "CREATE INDEX events_time ON events(time);"
    "CREATE TABLE agent_transitions ("
    "  seq INTEGER PRIMARY KEY AUTOINCREMENT,"
    "  agent_id TEXT NOT NULL REFERENCES agents(id) ON DELETE CASCADE,"
    "  time INTEGER NOT NULL,"
    "  from_state TEXT NOT NULL,"
    "  to_state TEXT NOT NULL,"
    "  reason TEXT NOT NULL,"
    "  substate TEXT NOT NULL DEFAULT '',"
    "  truncated INTEGER NOT NULL DEFAULT 0"
    ");"
    "CREATE INDEX agent_transitions_agent ON agent_transitions(agent_id,"
    "  seq);",

    /* 3 -> 4: the process the spawner runs for an agent */
    "ALTER TABLE agents ADD COLUMN pid INTEGER;"
    "ALTER TABLE agents ADD COLUMN exit_status INTEGER;"
    "ALTER TABLE agents ADD COLUMN restarts INTEGER NOT NULL DEFAULT 0;"
    "ALTER TABLE agents ADD COLUMN jail TEXT"
    "  CHECK (jail IS NULL OR json_valid(jail));",

    /* 4 -> 5: sessions: one row per agent run, indexing its JSONL file
     * (path relative to the data directory); ended_at NULL = open */
    "CREATE TABLE sessions ("
    "  id INTEGER PRIMARY KEY AUTOINCREMENT,"
    "  agent TEXT NOT NULL,"
    "  task_id INTEGER,"
    "  runner TEXT,"
    "  path TEXT NOT NULL,"
    "  started_at INTEGER NOT NULL,"
    "  ended_at INTEGER,"
    "  size INTEGER NOT NULL DEFAULT 0,"
    "  lines INTEGER NOT NULL DEFAULT 0,"
    "  state TEXT,"
    "  exit_status INTEGER,"
    "  prefix_sha256 TEXT"
    ");"
    "CREATE INDEX sessions_agent ON sessions(agent, id);"
    "CREATE INDEX sessions_task ON sessions(task_id) WHERE task_id IS NOT NULL;"
    "CREATE INDEX sessions_open ON sessions(agent) WHERE ended_at IS NULL;"
    "CREATE INDEX sessions_ended ON sessions(ended_at)"
    "  WHERE ended_at IS NOT NULL;",

    /* 5 -> 6: metering: usage per model call (store_metering.c); a
     * session's pending prefix drift flags its next call; lifetime
     * totals per model, kept with each insert, for /metrics */
    "CREATE TABLE metering ("
    "  id INTEGER PRIMARY KEY AUTOINCREMENT,"
    "  time INTEGER NOT NULL,"
    "  agent TEXT,"
    "  session_id INTEGER,"
    "  source TEXT NOT NULL CHECK (source IN ('stream', 'probe', 'api')),"
    "  provider TEXT,"
    "  model TEXT,"
    "  input_tokens INTEGER NOT NULL DEFAULT 0,"
    "  output_tokens INTEGER NOT NULL DEFAULT 0,"
    "  cache_read_tokens INTEGER NOT NULL DEFAULT 0,"
    "  cache_write_tokens INTEGER NOT NULL DEFAULT 0,"
    "  cost REAL,"
    "  prefix_drift INTEGER NOT NULL DEFAULT 0"
    ");"
    "CREATE INDEX metering_time ON metering(time);"
    "CREATE INDEX metering_agent ON metering(agent, time);"
    "CREATE INDEX metering_model ON metering(model, time);"
    "CREATE INDEX metering_session ON metering(session_id);"
    "CREATE TABLE metering_drift ("
    "  session_id INTEGER PRIMARY KEY,"
    "  time INTEGER NOT NULL"
    ");"
    "CREATE TABLE metering_totals ("     /* per model, for /metrics */
    "  model TEXT PRIMARY KEY,"          /* '' = none */
    "  calls INTEGER NOT NULL,"
    "  input_tokens INTEGER NOT NULL,"
    "  output_tokens INTEGER NOT NULL,"
    "  cache_read_tokens INTEGER NOT NULL,"
    "  cache_write_tokens INTEGER NOT NULL,"
    "  cost REAL NOT NULL,"              /* sum of the reported costs */
    "  cost_n INTEGER NOT NULL,"         /* rows that reported one */
    "  prefix_drift INTEGER NOT NULL"
    ") WITHOUT ROWID;",

    /* 6 -> 7: the region 1 hash last seen for each agent kind, and the
     * hash of the inputs it was built from (drift, store_prompt.c) */
    "CREATE TABLE prompt_prefixes ("
    "  kind TEXT PRIMARY KEY,"
    "  region1_sha256 TEXT NOT NULL,"
    "  inputs_sha256 TEXT NOT NULL,"
    "  first_seen INTEGER NOT NULL,"
    "  last_seen INTEGER NOT NULL"
    ") WITHOUT ROWID;",

    /* 7 -> 8: hosts that report their runtime manifest (host.report,
     * store_host.c); online is derived from last_seen, never stored */
    "CREATE TABLE hosts ("
    "  name TEXT PRIMARY KEY,"
    "  manifest TEXT NOT NULL CHECK (json_valid(manifest)),"
    "  first_seen INTEGER NOT NULL,"
    "  reported_at INTEGER NOT NULL,"
    "  last_seen INTEGER NOT NULL,"
    "  reports INTEGER NOT NULL DEFAULT 1"
    ") WITHOUT ROWID;",
};
#define MIGRATION_COUNT ((int)(sizeof(migrations) / sizeof(migrations[0])))

static int conn_open(struct store *s, struct conn **out, int writer,
                     struct problem *err);
static void conn_close(struct conn *c);
static int migrate(struct store *s, struct problem *err);
static void *writer_main(void *arg);
static int exec_sql(struct conn *c, const char *sql, struct problem *err);
static void event_list_clear(struct event_list *l);
static void event_list_move(struct event_list *to, struct event_list *from);

int
store_sql_error(struct conn *c, struct problem *err, const char *what)
{
    int code = sqlite3_extended_errcode(c->db);

    log_warnx("store: %s: %s (%d)", what, sqlite3_errmsg(c->db), code);
    if ((code & 0xff) == SQLITE_FULL)
        return problem_set(err, 507, "storage_full",
                           "the database disk is full");
    if ((code & 0xff) == SQLITE_BUSY || (code & 0xff) == SQLITE_LOCKED)
        return problem_set(err, 503, "store_busy",
                           "the database is busy; retry");
    return problem_set(err, 500, "store_error",
                       "the database reported an error during %s", what);
}

static int
exec_sql(struct conn *c, const char *sql, struct problem *err)
{
    char *msg = NULL;

    if (sqlite3_exec(c->db, sql, NULL, NULL, &msg) != SQLITE_OK) {
        log_warnx("store: %s: %s", sql, msg ? msg : "?");
        sqlite3_free(msg);
        return store_sql_error(c, err, "exec");
    }
    return 0;
}

sqlite3_stmt *
store_stmt(struct conn *c, enum stmt_id id)
{
    sqlite3_stmt *st = c->stmts[id];

    if (st == NULL) {
        if (sqlite3_prepare_v3(c->db, statements[id], -1,
                               SQLITE_PREPARE_PERSISTENT, &st,
                               NULL) != SQLITE_OK)
            fatalx("store: cannot prepare statement %d: %s", (int)id,
                   sqlite3_errmsg(c->db));
        c->stmts[id] = st;
    } else {
        sqlite3_reset(st);
        sqlite3_clear_bindings(st);
    }
    return st;
}

static int
conn_open(struct store *s, struct conn **out, int writer,
          struct problem *err)
{
    struct conn *c = xcalloc(1, sizeof(*c));
    int flags = SQLITE_OPEN_READWRITE | SQLITE_OPEN_NOMUTEX;
    struct problem ignored = {0};

    if (writer)
        flags |= SQLITE_OPEN_CREATE;
    if (sqlite3_open_v2(s->path, &c->db, flags, NULL) != SQLITE_OK) {
        problem_set(err, 500, "store_open",
                    "cannot open database %s: %s", s->path,
                    c->db ? sqlite3_errmsg(c->db) : "out of memory");
        conn_close(c);
        return -1;
    }
    sqlite3_busy_timeout(c->db, 10000);
    sqlite3_extended_result_codes(c->db, 1);
    if (writer) {
        if (exec_sql(c, "PRAGMA journal_mode = WAL", err) < 0)
            goto fail;
    }
    if (exec_sql(c, s->durable ? "PRAGMA synchronous = FULL"
                               : "PRAGMA synchronous = NORMAL", err) < 0 ||
        exec_sql(c, "PRAGMA foreign_keys = ON", err) < 0)
        goto fail;
    if (!writer && exec_sql(c, "PRAGMA query_only = ON", &ignored) < 0)
        goto fail;
    *out = c;
    return 0;
fail:
    problem_clear(&ignored);
    conn_close(c);
    return -1;
}

static void
conn_close(struct conn *c)
{
    int i;

    if (c == NULL)
        return;
    for (i = 0; i < ST_COUNT; i++)
        sqlite3_finalize(c->stmts[i]);
    sqlite3_close(c->db);
    free(c);
}

/* Runs pending migrations in one transaction; refuses a newer schema. */
static int
migrate(struct store *s, struct problem *err)
{
    sqlite3_stmt *st;
    int version, v;
    char pragma[64];

    if (exec_sql(s->writer, "BEGIN IMMEDIATE", err) < 0)
        return -1;
    if (sqlite3_prepare_v2(s->writer->db, "PRAGMA user_version", -1, &st,
                           NULL) != SQLITE_OK)
        goto fail_sql;
    if (sqlite3_step(st) != SQLITE_ROW) {
        sqlite3_finalize(st);
        goto fail_sql;
    }
    version = sqlite3_column_int(st, 0);
    sqlite3_finalize(st);
    if (version > MIGRATION_COUNT) {
        exec_sql(s->writer, "ROLLBACK", err);
        return problem_set(err, 500, "schema_too_new",
                           "database %s has schema version %d; this "
                           "colibrid knows up to %d", s->path, version,
                           MIGRATION_COUNT);
    }
    for (v = version; v < MIGRATION_COUNT; v++) {
        if (exec_sql(s->writer, migrations[v], err) < 0)
            goto fail;
        snprintf(pragma, sizeof(pragma), "PRAGMA user_version = %d", v + 1);
        if (exec_sql(s->writer, pragma, err) < 0)
            goto fail;
        log_info("store: migrated %s to schema version %d", s->path, v + 1);
    }
    if (exec_sql(s->writer, "COMMIT", err) < 0)
        goto fail;
    s->schema_version = MIGRATION_COUNT;
    return 0;
fail_sql:
    store_sql_error(s->writer, err, "migration");
fail:
    sqlite3_exec(s->writer->db, "ROLLBACK", NULL, NULL, NULL);
    return -1;
}

int
store_open(struct store **out, const struct store_options *opts,
           struct problem *err)
{
    struct store *s = xcalloc(1, sizeof(*s));

    s->path = xstrdup(opts->path);
    s->durable = opts->durable;
    s->clock = opts->clock ? opts->clock : util_now_ms;
    s->publish = opts->publish;
    s->publish_ctx = opts->publish_ctx;
    pthread_mutex_init(&s->lock, NULL);
    pthread_cond_init(&s->work_cond, NULL);
    pthread_cond_init(&s->done_cond, NULL);
    pthread_key_create(&s->reader_key, NULL);

    if (conn_open(s, &s->writer, 1, err) < 0)
        goto fail;
    if (migrate(s, err) < 0)
        goto fail;
    if (pthread_create(&s->writer_thread, NULL, writer_main, s) != 0) {
        problem_set(err, 500, "store_thread", "cannot start writer thread");
        goto fail;
    }
    *out = s;
    return 0;
fail:
    conn_close(s->writer);
    pthread_key_delete(s->reader_key);
    pthread_mutex_destroy(&s->lock);
    pthread_cond_destroy(&s->work_cond);
    pthread_cond_destroy(&s->done_cond);
    free(s->path);
    free(s);
    return -1;
}

void
store_close(struct store *s)
{
    struct conn *c, *next;

    if (s == NULL)
        return;
    pthread_mutex_lock(&s->lock);
    s->stopping = 1;
    pthread_cond_signal(&s->work_cond);
    pthread_mutex_unlock(&s->lock);
    pthread_join(s->writer_thread, NULL);

    for (c = s->readers; c != NULL; c = next) {
        next = c->next_reader;
        conn_close(c);
    }
    /* Closing the last connection checkpoints and removes the WAL. */
    conn_close(s->writer);
    event_list_clear(&s->job_events);
    event_list_clear(&s->batch_events);
    free(s->job_events.items);
    free(s->batch_events.items);
    pthread_key_delete(s->reader_key);
    pthread_mutex_destroy(&s->lock);
    pthread_cond_destroy(&s->work_cond);
    pthread_cond_destroy(&s->done_cond);
    free(s->path);
    free(s);
}

void
store_set_publisher(struct store *s, store_publish_fn fn, void *ctx)
{
    pthread_mutex_lock(&s->lock);
    s->publish = fn;
    s->publish_ctx = ctx;
    pthread_mutex_unlock(&s->lock);
}

int
store_ping(struct store *s, struct problem *err)
{
    struct conn *c = store_reader(s);
    sqlite3_stmt *st = store_stmt(c, ST_TASK_EXISTS);
    int rc;

    sqlite3_bind_int64(st, 1, 0);
    rc = sqlite3_step(st);
    sqlite3_reset(st);
    if (rc != SQLITE_ROW && rc != SQLITE_DONE)
        return store_sql_error(c, err, "ping");
    return 0;
}

int
store_schema_version(struct store *s)
{
    return s->schema_version;
}

/* The calling thread's reader connection, opened on first use. */
struct conn *
store_reader(struct store *s)
{
    struct conn *c = pthread_getspecific(s->reader_key);
    struct problem err = {0};

    if (c != NULL)
        return c;
    if (conn_open(s, &c, 0, &err) < 0)
        fatalx("store: cannot open a reader connection: %s", err.detail);
    pthread_setspecific(s->reader_key, c);
    pthread_mutex_lock(&s->lock);
    c->next_reader = s->readers;
    s->readers = c;
    pthread_mutex_unlock(&s->lock);
    return c;
}

/*
 * Queues fn to run inside the next group commit and waits until that
 * commit is done.  Returns fn's result, or -1 when the commit itself
 * failed (then nothing fn did is kept).
 */
int
store_write(struct store *s,
            int (*fn)(struct store *, struct conn *, void *,
                      struct problem *),
            void *ctx, struct problem *err)
{
    struct write_job job = {fn, ctx, err, 0, 0, NULL};

    pthread_mutex_lock(&s->lock);
    if (s->stopping) {
        pthread_mutex_unlock(&s->lock);
        return problem_set(err, 503, "shutting_down",
                           "the daemon is shutting down");
    }
    if (s->queue_tail)
        s->queue_tail->next = &job;
    else
        s->queue_head = &job;
    s->queue_tail = &job;
    pthread_cond_signal(&s->work_cond);
    while (!job.done)
        pthread_cond_wait(&s->done_cond, &s->lock);
    pthread_mutex_unlock(&s->lock);
    return job.rc;
}

/* Runs one batch of jobs in a single transaction. */
static void
run_batch(struct store *s, struct write_job *batch)
{
    struct conn *c = s->writer;
    struct write_job *j;
    struct problem commit_err = {0};
    int ok = 1;

    if (exec_sql(c, "BEGIN IMMEDIATE", &commit_err) < 0) {
        ok = 0;
        goto out;
    }
    for (j = batch; j != NULL; j = j->next) {
        if (exec_sql(c, "SAVEPOINT job", j->err) < 0) {
            j->rc = -1;
            continue;
        }
        j->rc = j->fn(s, c, j->ctx, j->err);
        if (j->rc < 0) {
            sqlite3_exec(c->db, "ROLLBACK TO job", NULL, NULL, NULL);
            event_list_clear(&s->job_events);
        } else {
            event_list_move(&s->batch_events, &s->job_events);
        }
        sqlite3_exec(c->db, "RELEASE job", NULL, NULL, NULL);
    }
    if (exec_sql(c, "COMMIT", &commit_err) < 0) {
        sqlite3_exec(c->db, "ROLLBACK", NULL, NULL, NULL);
        ok = 0;
    }
    /* Published only once durable, in id order, before anyone is told
     * their write succeeded: a subscriber never sees an event that a
     * crash could take back, and a writer's caller never sees its write
     * before the stream does. */
    if (ok && s->publish != NULL && s->batch_events.n > 0)
        s->publish(s->publish_ctx, s->batch_events.items,
                   s->batch_events.n);
out:
    event_list_clear(&s->batch_events);
    if (!ok) {
        for (j = batch; j != NULL; j = j->next) {
            if (j->rc == 0) {
                problem_clear(j->err);
                *j->err = commit_err;
                j->err->extra = NULL;
            }
            j->rc = -1;
        }
    }
    problem_clear(&commit_err);
}

static void
event_free(struct store_event *e)
{
    free(e->type);
    free(e->subject);
    free(e->agent);
    json_decref(e->data);
}

static void
event_list_clear(struct event_list *l)
{
    size_t i;

    for (i = 0; i < l->n; i++)
        event_free(&l->items[i]);
    l->n = 0;
}

/* Appends everything in from to to, leaving from empty. */
static void
event_list_move(struct event_list *to, struct event_list *from)
{
    if (from->n == 0)
        return;
    if (to->n + from->n > to->size) {
        to->size = (to->n + from->n) * 2;
        to->items = xrealloc(to->items, to->size * sizeof(*to->items));
    }
    memcpy(to->items + to->n, from->items, from->n * sizeof(*from->items));
    to->n += from->n;
    from->n = 0;
}

int
store_event_append(struct store *s, struct conn *c, const char *type,
                   const char *subject, const char *agent, json_t *data,
                   struct problem *err)
{
    sqlite3_stmt *st = store_stmt(c, ST_EVENT_INSERT);
    struct event_list *l = &s->job_events;
    struct store_event *e;
    int64_t now = s->clock();
    char *text = json_dumps(data, JSON_COMPACT | JSON_ENCODE_ANY);

    sqlite3_bind_int64(st, 1, now);
    sqlite3_bind_text(st, 2, type, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 3, subject, -1, SQLITE_TRANSIENT);
    if (agent)
        sqlite3_bind_text(st, 4, agent, -1, SQLITE_TRANSIENT);
    sqlite3_bind_text(st, 5, text, -1, SQLITE_TRANSIENT);
    free(text);
    if (sqlite3_step(st) != SQLITE_DONE) {
        json_decref(data);
        return store_sql_error(c, err, "recording an event");
    }
    if (l->n == l->size) {
        l->size = l->size ? l->size * 2 : 16;
        l->items = xrealloc(l->items, l->size * sizeof(*l->items));
    }
    e = &l->items[l->n++];
    e->id = sqlite3_last_insert_rowid(c->db);
    e->time = now;
    e->type = xstrdup(type);
    e->subject = xstrdup(subject);
    e->agent = agent ? xstrdup(agent) : NULL;
    e->data = data;
    return 0;
}

static void *
writer_main(void *arg)
{
    struct store *s = arg;
    struct write_job *batch, *j, *next;
    int n;

    pthread_mutex_lock(&s->lock);
    for (;;) {
        while (s->queue_head == NULL && !s->stopping)
            pthread_cond_wait(&s->work_cond, &s->lock);
        if (s->queue_head == NULL && s->stopping)
            break;
        /* Take up to LIMIT_WRITE_BATCH jobs, in arrival order. */
        batch = s->queue_head;
        for (j = batch, n = 1; j->next != NULL && n < LIMIT_WRITE_BATCH;
             j = j->next, n++)
            ;
        s->queue_head = j->next;
        if (s->queue_head == NULL)
            s->queue_tail = NULL;
        j->next = NULL;
        pthread_mutex_unlock(&s->lock);

        run_batch(s, batch);

        pthread_mutex_lock(&s->lock);
        for (j = batch; j != NULL; j = next) {
            next = j->next;
            j->done = 1;
        }
        pthread_cond_broadcast(&s->done_cond);
    }
    pthread_mutex_unlock(&s->lock);
    return NULL;
}

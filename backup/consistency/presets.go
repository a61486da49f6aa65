package consistency

import (
	"slices"
	"strings"
)

// Preset is a vendor's recommended way to dump and load a data store,
// chosen by one label (dockpack.preset=NAME). Its commands run through the
// container's own /bin/sh, so credentials come from the container's
// environment (MYSQL_ROOT_PASSWORD, POSTGRES_USER, …) and never pass
// through dockpack: not in its logs, not in the manifest. docs/consistency.md
// states each preset's guarantees and limits.
type Preset struct {
	Name        string
	Ext         string
	Dump        []string
	RestoreDump []string
	// RestoreStops: the restore command stops the server so that it loads
	// the dump when it starts (dockpack starts the container again).
	RestoreStops bool
	// Guarantee and Limits are for the documentation.
	Guarantee, Limits string
}

func sh(script string) []string { return []string{"/bin/sh", "-c", strings.TrimSpace(script)} }

// mysqlCreds picks root when its password is known, else MYSQL_USER;
// the password goes in MYSQL_PWD (never on a command line). prefix is
// MYSQL or MARIADB.
func mysqlCreds(prefixes ...string) string {
	var b strings.Builder
	b.WriteString(`u=""; p=""; `)
	for _, px := range prefixes {
		b.WriteString(`if [ -z "$u" ] && [ -n "${` + px + `_ROOT_PASSWORD:-}" ]; then u=root; p="$` + px + `_ROOT_PASSWORD"; fi; `)
	}
	for _, px := range prefixes {
		b.WriteString(`if [ -z "$u" ] && [ -n "${` + px + `_USER:-}" ]; then u="$` + px + `_USER"; p="${` + px + `_PASSWORD:-}"; fi; `)
	}
	b.WriteString(`[ -n "$u" ] || u=root; export MYSQL_PWD="$p"; `)
	return b.String()
}

// redisScript is the dump of redis or valkey (cli is the client's name):
// BGSAVE, wait until LASTSAVE changes, then the RDB file on stdout.
func redisDump(cli string) []string {
	return sh(`export REDISCLI_AUTH="${REDISCLI_AUTH:-${REDIS_PASSWORD:-${VALKEY_PASSWORD:-}}}"; c=$(command -v ` + cli + ` || command -v redis-cli); ` +
		`last=$($c LASTSAVE) || exit 1; [ "$last" -lt "$(date +%s)" ] || sleep 1; ` +
		`$c BGSAVE >&2 || { $c INFO persistence | grep -q 'rdb_bgsave_in_progress:1' || exit 1; }; ` +
		`while [ "$($c LASTSAVE)" = "$last" ]; do sleep 0.2; done; ` +
		`$c INFO persistence | grep -q 'rdb_last_bgsave_status:ok' || { echo "BGSAVE failed" >&2; exit 1; }; ` +
		`d=$($c CONFIG GET dir | tail -n 1); f=$($c CONFIG GET dbfilename | tail -n 1); exec cat "$d/$f"`)
}

// redisRestore writes the RDB read on stdin over the server's file and
// shuts the server down without saving, so that it loads the file when
// its container starts again.
func redisRestore(cli string) []string {
	return sh(`export REDISCLI_AUTH="${REDISCLI_AUTH:-${REDIS_PASSWORD:-${VALKEY_PASSWORD:-}}}"; c=$(command -v ` + cli + ` || command -v redis-cli); ` +
		`if $c CONFIG GET appendonly | tail -n 1 | grep -q yes; then echo "appendonly is on: the server would load its AOF, not the dump; restore the volume instead" >&2; exit 1; fi; ` +
		`d=$($c CONFIG GET dir | tail -n 1); f=$($c CONFIG GET dbfilename | tail -n 1); ` +
		`cat > "$d/$f.dockpack" && [ -s "$d/$f.dockpack" ] && mv "$d/$f.dockpack" "$d/$f" || exit 1; ` +
		`$c SHUTDOWN NOSAVE >/dev/null 2>&1; exit 0`)
}

var presets = []Preset{
	{Name: "mysql", Ext: "sql",
		Dump:        sh(mysqlCreds("MYSQL") + `exec mysqldump -u"$u" --single-transaction --routines --events --triggers --hex-blob --all-databases`),
		RestoreDump: sh(mysqlCreds("MYSQL") + `exec mysql -u"$u"`),
		Guarantee:   "mysqldump --single-transaction: a consistent snapshot of InnoDB tables without blocking writers",
		Limits:      "MyISAM tables are not transactional (locked per table, not consistent across them); DDL (ALTER, DROP, RENAME, TRUNCATE) during the dump breaks its consistency; credentials from MYSQL_ROOT_PASSWORD, else MYSQL_USER/MYSQL_PASSWORD (MYSQL_RANDOM_ROOT_PASSWORD is not known to the container's environment)"},
	{Name: "mariadb", Ext: "sql",
		Dump: sh(mysqlCreds("MARIADB", "MYSQL") + `d=$(command -v mariadb-dump || command -v mysqldump); ` +
			`exec "$d" -u"$u" --single-transaction --routines --events --triggers --hex-blob --all-databases`),
		RestoreDump: sh(mysqlCreds("MARIADB", "MYSQL") + `c=$(command -v mariadb || command -v mysql); exec "$c" -u"$u"`),
		Guarantee:   "mariadb-dump (mysqldump) --single-transaction: a consistent snapshot of InnoDB tables without blocking writers",
		Limits:      "as mysql; credentials from MARIADB_* or MYSQL_* variables"},
	{Name: "postgres", Ext: "sql",
		Dump:        sh(`export PGPASSWORD="${POSTGRES_PASSWORD:-}"; exec pg_dumpall --clean --if-exists -U "${POSTGRES_USER:-postgres}"`),
		RestoreDump: sh(`export PGPASSWORD="${POSTGRES_PASSWORD:-}"; exec psql -q -v ON_ERROR_STOP=0 -U "${POSTGRES_USER:-postgres}" -d postgres`),
		Guarantee:   "pg_dumpall: each database is dumped in one repeatable-read snapshot; writers are not blocked",
		Limits:      "databases are dumped one after the other (no snapshot across databases); roles and tablespaces are included; the restore drops and re-creates the databases and reports (and continues past) statements on objects that exist, e.g. the superuser role"},
	{Name: "redis", Ext: "rdb", Dump: redisDump("redis-cli"), RestoreDump: redisRestore("redis-cli"), RestoreStops: true,
		Guarantee: "BGSAVE: a point-in-time RDB snapshot taken by a forked child; clients are not blocked",
		Limits:    "needs memory headroom for the fork's copy-on-write; with appendonly yes the restore refuses (the server would load its AOF); the restore stops the server (SHUTDOWN NOSAVE) and dockpack starts its container, which loads the RDB"},
	{Name: "valkey", Ext: "rdb", Dump: redisDump("valkey-cli"), RestoreDump: redisRestore("valkey-cli"), RestoreStops: true,
		Guarantee: "as redis (valkey-cli, or redis-cli when the image has only that)",
		Limits:    "as redis"},
	{Name: "mongodb", Ext: "archive",
		Dump: sh(`set --; [ -n "${MONGO_INITDB_ROOT_USERNAME:-}" ] && set -- -u "$MONGO_INITDB_ROOT_USERNAME" -p "$MONGO_INITDB_ROOT_PASSWORD" --authenticationDatabase admin; ` +
			`exec mongodump --archive --oplog --quiet "$@"`),
		RestoreDump: sh(`set --; [ -n "${MONGO_INITDB_ROOT_USERNAME:-}" ] && set -- -u "$MONGO_INITDB_ROOT_USERNAME" -p "$MONGO_INITDB_ROOT_PASSWORD" --authenticationDatabase admin; ` +
			`exec mongorestore --archive --drop --oplogReplay --quiet "$@"`),
		Guarantee: "mongodump --oplog: a point-in-time dump of a replica set member",
		Limits:    "--oplog needs a replica set (a standalone server fails the dump: set dockpack.dump without it); the password is on mongodump's command line inside the container"},
}

// LookupPreset finds a preset by name (case-insensitive).
func LookupPreset(name string) (Preset, bool) {
	name = strings.ToLower(strings.TrimSpace(name))
	for _, p := range presets {
		if p.Name == name {
			p.Dump, p.RestoreDump = slices.Clone(p.Dump), slices.Clone(p.RestoreDump)
			return p, true
		}
	}
	return Preset{}, false
}

// PresetNames lists the presets.
func PresetNames() []string {
	out := make([]string, len(presets))
	for i, p := range presets {
		out[i] = p.Name
	}
	return out
}

// Presets lists every preset (for documentation and tests).
func Presets() []Preset {
	out := make([]Preset, 0, len(presets))
	for _, p := range presets {
		q, _ := LookupPreset(p.Name)
		out = append(out, q)
	}
	return out
}

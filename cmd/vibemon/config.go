package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/vibemon/vibemon/redis"
	"github.com/vibemon/vibemon/s3"
)

// settings are the server's settings from flags and VIBEMON_* variables. A
// flag wins over its variable; a wrong value stops the start with one line
// that names the setting.
type settings struct {
	Addr          string
	DataDir       string
	DatabaseURL   string
	TimescaleOff  bool          // VIBEMON_TIMESCALEDB=off
	CompressAfter time.Duration // VIBEMON_TIMESCALEDB_COMPRESS_DAYS; 0: unset
	// ContinuousAggregates: VIBEMON_TIMESCALEDB_AGGREGATES=continuous (the
	// default) rather than rollups.
	ContinuousAggregates bool
	RedisURL             string
	RedisPrefix          string
	Notify               notifySettings
	BlobURL              string
	Blob                 *s3.Config // parsed BlobURL, credentials filled in; nil without one
	AdminEmail           string
	AdminPassword        string
	Roles                []string
	LogLevel             slog.Level
	LogFormat            string
}

var allRoles = []string{"api", "ws", "worker", "web"}

// settingError names the setting that is wrong.
type settingError struct {
	flag, env, msg string
}

func (e *settingError) Error() string {
	name := e.env
	if e.flag != "" && e.env != "" {
		name = "--" + e.flag + " / " + e.env
	} else if e.flag != "" {
		name = "--" + e.flag
	}
	return "invalid setting " + name + ": " + e.msg
}

// bindServerFlags registers the server settings on fs with defaults from
// the environment and returns a function that validates them after parsing.
func bindServerFlags(fs *flag.FlagSet, getenv func(string) string) func() (*settings, error) {
	env := func(name, def string) string {
		if v := getenv(name); v != "" {
			return v
		}
		return def
	}
	s := &settings{}
	fs.StringVar(&s.Addr, "addr", env("VIBEMON_ADDR", ":8080"), "listen address (VIBEMON_ADDR)")
	fs.StringVar(&s.DataDir, "data-dir", env("VIBEMON_DATA_DIR", "./vibemon-data"), "directory for the SQLite database and generated secrets (VIBEMON_DATA_DIR)")
	roles := fs.String("roles", env("VIBEMON_ROLES", strings.Join(allRoles, ",")), "comma-separated roles this process serves: api, ws, worker, web (VIBEMON_ROLES)")
	level := fs.String("log-level", env("VIBEMON_LOG_LEVEL", "info"), "log level: debug, info, warn, error (VIBEMON_LOG_LEVEL)")
	fs.StringVar(&s.LogFormat, "log-format", env("VIBEMON_LOG_FORMAT", "text"), "log format: text or json (VIBEMON_LOG_FORMAT)")
	return func() (*settings, error) {
		s.DatabaseURL = getenv("VIBEMON_DATABASE_URL")
		switch ts := env("VIBEMON_TIMESCALEDB", "auto"); ts {
		case "auto":
		case "off":
			s.TimescaleOff = true
		default:
			return nil, &settingError{"", "VIBEMON_TIMESCALEDB", fmt.Sprintf("%q is not auto or off (auto keeps readings in a hypertable where TimescaleDB is available)", ts)}
		}
		var err error
		if s.CompressAfter, err = compressAfter(getenv); err != nil {
			return nil, err
		}
		if s.ContinuousAggregates, err = continuousAggregates(getenv); err != nil {
			return nil, err
		}
		s.RedisURL = getenv("VIBEMON_REDIS_URL")
		s.RedisPrefix = env("VIBEMON_REDIS_PREFIX", redis.DefaultPrefix)
		s.BlobURL = getenv("VIBEMON_BLOB_URL")
		s.AdminEmail = getenv("VIBEMON_ADMIN_EMAIL")
		s.AdminPassword = getenv("VIBEMON_ADMIN_PASSWORD")
		if _, _, err := net.SplitHostPort(s.Addr); err != nil {
			return nil, &settingError{"addr", "VIBEMON_ADDR", fmt.Sprintf("%q is not host:port (e.g. :8080 or 127.0.0.1:8080)", s.Addr)}
		}
		if strings.TrimSpace(s.DataDir) == "" {
			return nil, &settingError{"data-dir", "VIBEMON_DATA_DIR", "must not be empty"}
		}
		if err := parseLevel(s, *level); err != nil {
			return nil, err
		}
		if s.LogFormat != "text" && s.LogFormat != "json" {
			return nil, &settingError{"log-format", "VIBEMON_LOG_FORMAT", fmt.Sprintf("%q is not text or json", s.LogFormat)}
		}
		for _, r := range strings.Split(*roles, ",") {
			r = strings.TrimSpace(r)
			if !slices.Contains(allRoles, r) {
				return nil, &settingError{"roles", "VIBEMON_ROLES", fmt.Sprintf("unknown role %q (known: %s)", r, strings.Join(allRoles, ", "))}
			}
			if !slices.Contains(s.Roles, r) {
				s.Roles = append(s.Roles, r)
			}
		}
		if s.DatabaseURL != "" {
			u, err := url.Parse(s.DatabaseURL)
			if err != nil || (u.Scheme != "postgres" && u.Scheme != "postgresql") {
				return nil, &settingError{"", "VIBEMON_DATABASE_URL", "must be a postgres:// URL, or empty for the embedded SQLite store"}
			}
		}
		if s.RedisURL != "" {
			u, err := url.Parse(s.RedisURL)
			if err != nil || (u.Scheme != "redis" && u.Scheme != "rediss" && u.Scheme != "unix") {
				return nil, &settingError{"", "VIBEMON_REDIS_URL", "must be a redis://, rediss:// or unix:// URL, or empty for the in-process bus"}
			}
		}
		if err := redis.CheckPrefix(s.RedisPrefix); err != nil {
			return nil, &settingError{"", "VIBEMON_REDIS_PREFIX", err.Error()}
		}
		if s.BlobURL != "" {
			c, err := s3.ParseURL(s.BlobURL)
			if err != nil {
				return nil, &settingError{"", "VIBEMON_BLOB_URL", err.Error() + "; or leave it empty to keep firmware images in the database"}
			}
			if c.AccessKey == "" && c.SecretKey == "" {
				c.AccessKey, c.SecretKey = getenv("AWS_ACCESS_KEY_ID"), getenv("AWS_SECRET_ACCESS_KEY")
			}
			s.Blob = &c
		}
		if s.AdminEmail != "" && !strings.Contains(s.AdminEmail, "@") {
			return nil, &settingError{"", "VIBEMON_ADMIN_EMAIL", fmt.Sprintf("%q is not an e-mail address", s.AdminEmail)}
		}
		if s.AdminPassword != "" && len(s.AdminPassword) < 8 {
			return nil, &settingError{"", "VIBEMON_ADMIN_PASSWORD", "must be at least 8 characters"}
		}
		if s.Notify, err = parseNotify(getenv); err != nil {
			return nil, err
		}
		return s, nil
	}
}

func parseLevel(s *settings, v string) error {
	if err := s.LogLevel.UnmarshalText([]byte(v)); err != nil {
		return &settingError{"log-level", "VIBEMON_LOG_LEVEL", fmt.Sprintf("%q is not debug, info, warn or error", v)}
	}
	return nil
}

func (s *settings) hasRole(r string) bool { return slices.Contains(s.Roles, r) }

func (s *settings) logger(w io.Writer) *slog.Logger {
	opts := &slog.HandlerOptions{Level: s.LogLevel}
	if s.LogFormat == "json" {
		return slog.New(slog.NewJSONHandler(w, opts))
	}
	return slog.New(slog.NewTextHandler(w, opts))
}

// parseFlags parses args and turns -h into a clean exit (the flag set
// has printed its Usage) and other flag errors into one line.
func parseFlags(fs *flag.FlagSet, args []string) error {
	fs.SetOutput(io.Discard)
	err := fs.Parse(args)
	if errors.Is(err, flag.ErrHelp) {
		return err
	}
	if err != nil {
		return fmt.Errorf("%s: %v (see: vibemon %s --help)", fs.Name(), err, fs.Name())
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("%s: unexpected argument %q (see: vibemon %s --help)", fs.Name(), fs.Arg(0), fs.Name())
	}
	return nil
}

// continuousAggregates reads VIBEMON_TIMESCALEDB_AGGREGATES: where a new
// database on TimescaleDB keeps its minute, hourly and daily stats,
// "continuous" (the default: continuous aggregates per org) or "rollups"
// (the store's own rollup tables, as on plain PostgreSQL). A database keeps
// what it was created with (docs/postgres.md).
func continuousAggregates(getenv func(string) string) (bool, error) {
	switch v := getenv("VIBEMON_TIMESCALEDB_AGGREGATES"); v {
	case "", "continuous":
		return true, nil
	case "rollups":
		return false, nil
	default:
		return false, &settingError{"", "VIBEMON_TIMESCALEDB_AGGREGATES", fmt.Sprintf("%q is not continuous or rollups (where a new database on TimescaleDB keeps its hourly and daily stats: continuous aggregates, or the store's own rollup tables)", v)}
	}
}

// compressAfter reads VIBEMON_TIMESCALEDB_COMPRESS_DAYS: the age at which
// TimescaleDB compresses a chunk of readings; 0 when unset.
func compressAfter(getenv func(string) string) (time.Duration, error) {
	v := getenv("VIBEMON_TIMESCALEDB_COMPRESS_DAYS")
	if v == "" {
		return 0, nil
	}
	days, err := strconv.Atoi(v)
	if err != nil || days < 1 || days > 36500 {
		return 0, &settingError{"", "VIBEMON_TIMESCALEDB_COMPRESS_DAYS", fmt.Sprintf("%q is not a number of days from 1 to 36500 (chunks of readings older than it are compressed; empty: 7 for a new hypertable)", v)}
	}
	return time.Duration(days) * 24 * time.Hour, nil
}

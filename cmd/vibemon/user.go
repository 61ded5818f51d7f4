package main

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"text/tabwriter"

	"github.com/vibemon/vibemon"
	"github.com/vibemon/vibemon/auth"
)

const userUsage = `Usage: vibemon user COMMAND [flags]

Commands:
  create        --email E --role owner|admin|engineer|viewer [--name N] [--password P] [--org ID]
  set-password  --email E [--password P]   (a password is generated and printed when absent)
  list          [--org ID]

The users are those of the store the server uses: PostgreSQL when
VIBEMON_DATABASE_URL is set, else the embedded store in --data-dir
(VIBEMON_DATA_DIR).
`

func runUser(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	if len(args) == 0 || args[0] == "-h" || args[0] == "--help" || args[0] == "help" {
		fmt.Fprint(stdout, userUsage)
		return nil
	}
	cmd := args[0]
	switch cmd {
	case "create", "set-password", "list":
	default:
		return fmt.Errorf("unknown user command %q: want create, set-password or list (see: vibemon user --help)", cmd)
	}
	fs := newFlagSet("user "+cmd, "Manage users (in PostgreSQL when VIBEMON_DATABASE_URL is set, else in the embedded store of --data-dir).", stdout)
	finish := bindServerFlags(fs, getenv)
	email := fs.String("email", "", "the user's e-mail")
	name := fs.String("name", "", "the user's name")
	role := fs.String("role", "", "owner, admin, engineer or viewer")
	password := fs.String("password", "", "the new password (at least 8 characters); generated when empty")
	orgID := fs.Int64("org", 1, "organization id")
	if err := parseFlags(fs, args[1:]); err != nil {
		return err
	}
	s, err := finish()
	if err != nil {
		return err
	}
	// Everything the command can check by itself, before the store opens.
	switch {
	case cmd != "list" && *email == "":
		return fmt.Errorf("user %s: --email is required", cmd)
	case cmd == "create" && !vibemon.Role(*role).Valid():
		return fmt.Errorf("user create: --role %q: want owner, admin, engineer or viewer", *role)
	case *password != "" && len(*password) < 8:
		return fmt.Errorf("user %s: --password must be at least 8 characters (or leave it out to have one generated)", cmd)
	}
	if s.DatabaseURL == "" {
		db := filepath.Join(s.DataDir, "vibemon.db")
		if _, err := os.Stat(db); err != nil {
			return fmt.Errorf("user %s: no VibeMon store at %s: give the server's --data-dir (VIBEMON_DATA_DIR), or VIBEMON_DATABASE_URL for PostgreSQL, or start `vibemon serve` once to create it", cmd, db)
		}
	}
	store, err := openStore(ctx, s, slog.New(slog.DiscardHandler))
	if err != nil {
		return fmt.Errorf("user %s: %w", cmd, err)
	}
	defer store.Close()

	pw := *password
	generated := pw == "" && cmd != "list"
	if generated {
		pw = randomPassword()
	}
	showPassword := func() {
		if generated {
			fmt.Fprintf(stdout, "password: %s (shown only this once)\n", pw)
		}
	}
	switch cmd {
	case "create":
		r := vibemon.Role(*role)
		if _, err := store.GetOrg(ctx, *orgID); err != nil {
			return fmt.Errorf("--org %d: %s", *orgID, vibemon.ErrorMessage(err))
		}
		hash, err := auth.Hash(pw)
		if err != nil {
			return err
		}
		u := &vibemon.User{OrgID: *orgID, Email: *email, Name: *name, Role: r, PasswordHash: hash}
		if err := store.CreateUser(ctx, u); err != nil {
			return fmt.Errorf("create user: %s", vibemon.ErrorMessage(err))
		}
		fmt.Fprintf(stdout, "created user %d %s (%s)\n", u.ID, u.Email, u.Role)
		showPassword()
	case "set-password":
		u, err := store.FindUserByEmail(ctx, *email)
		if err != nil {
			return fmt.Errorf("find %s: %s", *email, vibemon.ErrorMessage(err))
		}
		if u.PasswordHash, err = auth.Hash(pw); err != nil {
			return err
		}
		if err := store.UpdateUser(ctx, u); err != nil {
			return fmt.Errorf("update user: %s", vibemon.ErrorMessage(err))
		}
		fmt.Fprintf(stdout, "password of %s changed\n", u.Email)
		showPassword()
	case "list":
		users, err := store.ListUsers(ctx, *orgID)
		if err != nil {
			return fmt.Errorf("list users: %s", vibemon.ErrorMessage(err))
		}
		tw := tabwriter.NewWriter(stdout, 0, 4, 2, ' ', 0)
		fmt.Fprintln(tw, "ID\tE-MAIL\tNAME\tROLE")
		for _, u := range users {
			fmt.Fprintf(tw, "%d\t%s\t%s\t%s\n", u.ID, u.Email, u.Name, u.Role)
		}
		return tw.Flush()
	}
	return nil
}

package main

import (
	"context"
	"fmt"
	"io"
	"path/filepath"
	"text/tabwriter"

	"github.com/vibemon/vibemon"
	"github.com/vibemon/vibemon/auth"
	"github.com/vibemon/vibemon/sqlite"
)

const userUsage = `Usage: vibemon user COMMAND [flags]

Commands:
  create        --email E --role owner|admin|engineer|viewer [--name N] [--password P] [--org ID]
  set-password  --email E [--password P]   (a password is generated and printed when absent)
  list          [--org ID]

Flags common to all: --data-dir (VIBEMON_DATA_DIR).
`

func runUser(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	if len(args) == 0 || args[0] == "-h" || args[0] == "--help" || args[0] == "help" {
		fmt.Fprint(stdout, userUsage)
		return nil
	}
	cmd := args[0]
	fs := newFlagSet("user "+cmd, "Manage users of the embedded store.", stdout)
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
	store, err := sqlite.Open(filepath.Join(s.DataDir, "vibemon.db"), sqlite.Options{})
	if err != nil {
		return fmt.Errorf("open the store in %s: %w", s.DataDir, err)
	}
	defer store.Close()

	pw := *password
	if pw != "" && len(pw) < 8 {
		return fmt.Errorf("--password must be at least 8 characters")
	}
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
		if !r.Valid() {
			return fmt.Errorf("--role must be owner, admin, engineer or viewer")
		}
		if *email == "" {
			return fmt.Errorf("--email is required")
		}
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
		if *email == "" {
			return fmt.Errorf("--email is required")
		}
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
	default:
		return fmt.Errorf("unknown user command %q; run \"vibemon user --help\"", cmd)
	}
	return nil
}

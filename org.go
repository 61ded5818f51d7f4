package vibemon

import (
	"context"
	"strings"
	"time"
)

// Org is an organization: a tenant. Every other row belongs to exactly one.
type Org struct {
	ID   int64  `json:"id"`
	Name string `json:"name"`
	// RetentionDays is how long the org's raw readings are kept: readings
	// older than that many days are deleted by the retention job; rollups
	// are kept (docs/postgres.md, "Retention"). 0 means unlimited, the
	// default.
	RetentionDays int `json:"retention_days"`
	// PrunedBefore is the time before which retention has deleted the
	// org's raw readings (nil: never). Set by PruneReadings only; ingest
	// refuses readings older than it, also after RetentionDays is raised
	// (Reading.CheckRetention).
	PrunedBefore *time.Time `json:"pruned_before,omitempty"`
	// WaveformRetentionDays is how long the org's raw bursts (waveforms,
	// with their analyses) are kept: older ones are deleted by the
	// retention job. 0 means unlimited, the default.
	WaveformRetentionDays int       `json:"waveform_retention_days"`
	CreatedAt             time.Time `json:"created_at"`
}

// Role is what a user may do inside their organization.
type Role string

// Roles, from most to least privileged.
const (
	RoleOwner    Role = "owner"    // everything, including the org itself
	RoleAdmin    Role = "admin"    // users, plus everything an engineer may do
	RoleEngineer Role = "engineer" // assets, devices, rules, telemetry, alerts
	RoleViewer   Role = "viewer"   // read only
)

// Action is something a role may or may not do.
type Action int

// Actions checked on every route.
const (
	ActRead         Action = iota // read anything in the org
	ActAckAlerts                  // acknowledge and resolve alerts
	ActIngest                     // post telemetry
	ActManageAssets               // create, change, delete assets, devices and rules
	ActManageUsers                // create, change, delete users
	ActManageOrg                  // rename the org
)

func (r Role) rank() int {
	switch r {
	case RoleOwner:
		return 4
	case RoleAdmin:
		return 3
	case RoleEngineer:
		return 2
	case RoleViewer:
		return 1
	}
	return 0
}

// Valid reports whether r is one of the four roles.
func (r Role) Valid() bool { return r.rank() > 0 }

// Can reports whether role r may perform act.
func (r Role) Can(act Action) bool {
	need := map[Action]Role{
		ActRead:         RoleViewer,
		ActAckAlerts:    RoleEngineer,
		ActIngest:       RoleEngineer,
		ActManageAssets: RoleEngineer,
		ActManageUsers:  RoleAdmin,
		ActManageOrg:    RoleOwner,
	}[act]
	return r.rank() > 0 && r.rank() >= need.rank()
}

// Outranks reports whether r is at least as privileged as o; an admin may
// not create or promote a user above their own role.
func (r Role) Outranks(o Role) bool { return r.rank() >= o.rank() }

// User is a person who logs in to an organization.
type User struct {
	ID           int64     `json:"id"`
	OrgID        int64     `json:"org_id"`
	Email        string    `json:"email"`
	Name         string    `json:"name"`
	Role         Role      `json:"role"`
	PasswordHash string    `json:"-"`
	CreatedAt    time.Time `json:"created_at"`
}

// OrgStore keeps organizations.
type OrgStore interface {
	// CreateOrg inserts o and sets its ID and CreatedAt.
	CreateOrg(ctx context.Context, o *Org) error
	// GetOrg returns ENOTFOUND when id does not exist.
	GetOrg(ctx context.Context, id int64) (*Org, error)
	// UpdateOrg saves the name and retention; ENOTFOUND when the org does
	// not exist, EINVALID as Org.Validate.
	UpdateOrg(ctx context.Context, o *Org) error
	// OrgIDs returns every org's id in ascending order, for background
	// work that visits every tenant (training models, sweeps).
	OrgIDs(ctx context.Context) ([]int64, error)
}

// UserStore keeps users. Every method but FindUserByEmail is scoped to an org.
type UserStore interface {
	// CreateUser inserts u; ECONFLICT when the e-mail is taken (e-mails are
	// unique across orgs because login takes only an e-mail).
	CreateUser(ctx context.Context, u *User) error
	// GetUser returns ENOTFOUND when id is not a user of orgID.
	GetUser(ctx context.Context, orgID, id int64) (*User, error)
	// FindUserByEmail returns ENOTFOUND when no user has the e-mail.
	FindUserByEmail(ctx context.Context, email string) (*User, error)
	// ListUsers returns the org's users ordered by ID.
	ListUsers(ctx context.Context, orgID int64) ([]*User, error)
	// UpdateUser saves name, role and password hash; ENOTFOUND as GetUser.
	UpdateUser(ctx context.Context, u *User) error
	// DeleteUser removes the user and their sessions; ENOTFOUND as GetUser.
	DeleteUser(ctx context.Context, orgID, id int64) error
	// CountUsers returns the number of users in all orgs (0 on a new install).
	CountUsers(ctx context.Context) (int, error)
}

// Session is one refresh-token family's member. Tokens rotate on every
// refresh; presenting a used token again revokes the whole family, because
// it means the token was stolen.
type Session struct {
	TokenHash string // SHA-256 of the refresh token, hex; the token itself is never stored
	FamilyID  string
	UserID    int64
	OrgID     int64
	ExpiresAt time.Time
	CreatedAt time.Time
}

// SessionStore keeps refresh tokens.
type SessionStore interface {
	// CreateSession stores a new refresh token.
	CreateSession(ctx context.Context, s *Session) error
	// UseSession marks the token used and returns it. It returns
	// EUNAUTHORIZED when the token is unknown, expired (at now), revoked, or
	// already used; in the last case it also revokes the token's family.
	UseSession(ctx context.Context, tokenHash string, now time.Time) (*Session, error)
	// RevokeFamily revokes every token of the family (logout).
	RevokeFamily(ctx context.Context, familyID string) error
}

// Validate trims the e-mail and checks what every store requires of a user:
// an e-mail address, a name of at most 200 characters, a known role.
func (u *User) Validate() error {
	u.Email = strings.TrimSpace(u.Email)
	switch {
	case u.Email == "" || len(u.Email) > 254 || !strings.Contains(u.Email, "@"):
		return Errorf(EINVALID, "email must be an e-mail address.")
	case len(u.Name) > 200:
		return Errorf(EINVALID, "name is longer than 200 characters.")
	case !u.Role.Valid():
		return Errorf(EINVALID, "role must be owner, admin, engineer or viewer.")
	}
	return nil
}

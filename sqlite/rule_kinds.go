package sqlite

import (
	"context"
	"database/sql"
	"encoding/json"

	"github.com/vibemon/vibemon"
)

// saveRuleKind writes the fields of the rule kinds of migration 0010
// (zone, within_days, offline_minutes, conditions, match) of the validated
// rule r, inside the transaction that inserts or updates it.
func saveRuleKind(ctx context.Context, tx *sql.Tx, r *vibemon.Rule) error {
	conds, err := json.Marshal(r.Conditions)
	if err != nil {
		return err
	}
	match := r.Match
	if match == "" {
		match = vibemon.MatchAll
	}
	_, err = tx.ExecContext(ctx, `UPDATE rules SET zone = ?, within_days = ?, offline_minutes = ?, conditions = ?, match_mode = ?
		WHERE org_id = ? AND id = ?`, r.Zone, r.WithinDays, r.OfflineMinutes, string(conds), match, r.OrgID, r.ID)
	return err
}

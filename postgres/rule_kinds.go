package postgres

import (
	"context"
	"encoding/json"

	"github.com/jackc/pgx/v5"

	"github.com/vibemon/vibemon"
)

// saveRuleKind writes the fields of the rule kinds of migration 0010
// (zone, within_days, offline_minutes, conditions, match) of the validated
// rule r, inside the transaction that inserts or updates it.
func saveRuleKind(ctx context.Context, tx pgx.Tx, r *vibemon.Rule) error {
	conds, err := json.Marshal(r.Conditions)
	if err != nil {
		return err
	}
	match := r.Match
	if match == "" {
		match = vibemon.MatchAll
	}
	_, err = tx.Exec(ctx, `UPDATE rules SET zone = $1, within_days = $2, offline_minutes = $3, conditions = $4, match_mode = $5
		WHERE org_id = $6 AND id = $7`, r.Zone, r.WithinDays, r.OfflineMinutes, conds, match, r.OrgID, r.ID)
	return err
}

// conditionsJSON encodes a rule's conditions for the jsonb column.
func conditionsJSON(cs []vibemon.Condition) []byte {
	if len(cs) == 0 {
		return []byte("[]")
	}
	b, err := json.Marshal(cs)
	if err != nil {
		return []byte("[]")
	}
	return b
}

// matchMode is a rule's Match as stored ("all" when unset).
func matchMode(m string) string {
	if m == "" {
		return vibemon.MatchAll
	}
	return m
}

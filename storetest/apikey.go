package storetest

import (
	"maps"
	"slices"
	"testing"
	"time"

	"github.com/vibemon/vibemon"
)

func newKey(t *testing.T, s vibemon.Store, tn *tenant, name string) (*vibemon.APIKey, string) {
	t.Helper()
	key, hash := vibemon.NewAPIKey()
	k := &vibemon.APIKey{OrgID: tn.org.ID, Name: name, Role: vibemon.RoleEngineer, Prefix: key[:8], Hash: hash, CreatedBy: tn.user.ID}
	must(t, s.CreateAPIKey(ctx(t), k))
	if k.ID == 0 || k.CreatedAt.IsZero() {
		t.Fatalf("CreateAPIKey left ID=%d CreatedAt=%v unset", k.ID, k.CreatedAt)
	}
	return k, key
}

func testAPIKeys(t *testing.T, s vibemon.Store) {
	a := newTenant(t, s, "acme")
	k, key := newKey(t, s, a, " gateway 1 ")
	got, err := s.APIKeyByHash(ctx(t), vibemon.HashAPIKey(key))
	must(t, err)
	if got.ID != k.ID || got.OrgID != a.org.ID || got.Name != "gateway 1" || got.Role != vibemon.RoleEngineer ||
		got.Prefix != key[:8] || got.CreatedBy != a.user.ID || !got.CreatedAt.Equal(k.CreatedAt) || got.RevokedAt != nil || got.LastUsedAt != nil {
		t.Errorf("APIKeyByHash = %+v, want %+v", got, k)
	}
	_, err = s.APIKeyByHash(ctx(t), vibemon.HashAPIKey(key+"x"))
	wantCode(t, err, vibemon.EUNAUTHORIZED)

	at := base.Add(time.Hour)
	must(t, s.TouchAPIKey(ctx(t), k.ID, at))
	must(t, s.TouchAPIKey(ctx(t), k.ID, at.Add(-time.Minute))) // an older use does not move it back
	got, err = s.APIKeyByHash(ctx(t), k.Hash)
	must(t, err)
	if got.LastUsedAt == nil || !got.LastUsedAt.Equal(at) {
		t.Errorf("last used = %v, want %v", got.LastUsedAt, at)
	}

	for name, bad := range map[string]vibemon.APIKey{
		"no name":  {OrgID: a.org.ID, Name: " ", Role: vibemon.RoleEngineer, Prefix: "vmk_abcd", Hash: k.Hash[:63] + "0"},
		"bad role": {OrgID: a.org.ID, Name: "x", Role: "root", Prefix: "vmk_abcd", Hash: k.Hash[:63] + "0"},
		"no hash":  {OrgID: a.org.ID, Name: "x", Role: vibemon.RoleViewer, Prefix: "vmk_abcd"},
		"no org":   {OrgID: a.org.ID + 100, Name: "x", Role: vibemon.RoleViewer, Prefix: "vmk_abcd", Hash: k.Hash[:63] + "0"},
	} {
		t.Run(name, func(t *testing.T) { wantCode(t, s.CreateAPIKey(ctx(t), &bad), vibemon.EINVALID) })
	}
	dup := *k
	wantCode(t, s.CreateAPIKey(ctx(t), &dup), vibemon.ECONFLICT)
}

func testAPIKeysRevoke(t *testing.T, s vibemon.Store) {
	a := newTenant(t, s, "acme")
	k1, key1 := newKey(t, s, a, "one")
	k2, key2 := newKey(t, s, a, "two")
	must(t, s.RevokeAPIKey(ctx(t), a.org.ID, k1.ID))
	_, err := s.APIKeyByHash(ctx(t), vibemon.HashAPIKey(key1))
	wantCode(t, err, vibemon.EUNAUTHORIZED)
	if _, err := s.APIKeyByHash(ctx(t), vibemon.HashAPIKey(key2)); err != nil {
		t.Errorf("revoking key 1 broke key 2: %v", err)
	}
	keys, err := s.ListAPIKeys(ctx(t), a.org.ID)
	must(t, err)
	if len(keys) != 2 || keys[0].ID != k1.ID || keys[1].ID != k2.ID {
		t.Fatalf("ListAPIKeys = %v, want keys %d and %d", keys, k1.ID, k2.ID)
	}
	if keys[0].RevokedAt == nil || keys[1].RevokedAt != nil {
		t.Errorf("revoked_at = %v, %v; want key 1 revoked only", keys[0].RevokedAt, keys[1].RevokedAt)
	}
	first := *keys[0].RevokedAt
	must(t, s.RevokeAPIKey(ctx(t), a.org.ID, k1.ID)) // twice: no error, first time kept
	keys, _ = s.ListAPIKeys(ctx(t), a.org.ID)
	if !keys[0].RevokedAt.Equal(first) {
		t.Errorf("second revoke moved revoked_at from %v to %v", first, keys[0].RevokedAt)
	}
	wantCode(t, s.RevokeAPIKey(ctx(t), a.org.ID, k2.ID+100), vibemon.ENOTFOUND)
}

func testAPIKeysTenancy(t *testing.T, s vibemon.Store) {
	a := newTenant(t, s, "acme")
	b := newTenant(t, s, "bravo")
	ka, _ := newKey(t, s, a, "a")
	kb, keyB := newKey(t, s, b, "b")
	wantCode(t, s.RevokeAPIKey(ctx(t), a.org.ID, kb.ID), vibemon.ENOTFOUND)
	got, err := s.APIKeyByHash(ctx(t), vibemon.HashAPIKey(keyB))
	must(t, err)
	if got.OrgID != b.org.ID || got.RevokedAt != nil {
		t.Errorf("B's key after A tried to revoke it: %+v", got)
	}
	keys, err := s.ListAPIKeys(ctx(t), a.org.ID)
	must(t, err)
	if len(keys) != 1 || keys[0].ID != ka.ID {
		t.Errorf("A's list = %v, want only key %d", keys, ka.ID)
	}
	empty, err := s.ListAPIKeys(ctx(t), b.org.ID+100)
	must(t, err)
	if empty == nil || len(empty) != 0 {
		t.Errorf("unknown org's list = %#v, want an empty slice", empty)
	}
}

func testCompleteness(t *testing.T, s vibemon.Store) {
	a := newTenant(t, s, "acme")
	b := newTenant(t, s, "bravo")
	// seqs 100..199 one per second, minus 110..112 (3), 150 (1) and
	// 160..169 (10); plus seq 500 an hour later, outside the first window.
	var rs []vibemon.Reading
	for _, r := range series(a.device.ID, 100, 100, base, time.Second) {
		if (r.Seq >= 110 && r.Seq <= 112) || r.Seq == 150 || (r.Seq >= 160 && r.Seq <= 169) {
			continue
		}
		rs = append(rs, r)
	}
	rs = append(rs, series(a.device.ID, 500, 1, base.Add(time.Hour), 0)...)
	insert(t, s, a.org.ID, rs)

	tests := []struct {
		name     string
		from, to time.Time
		want     vibemon.Completeness
	}{
		{"window with three gaps", base, base.Add(100 * time.Second), vibemon.Completeness{
			FirstSeq: 100, LastSeq: 199, Expected: 100, Received: 86, Percent: 86, GapCount: 3,
			Unexplained: 14, AccountedPercent: 86,
			Gaps: []vibemon.SeqGap{gap(160, 169), gap(110, 112), gap(150, 150)}}},
		{"to is exclusive", base, base.Add(10 * time.Second), vibemon.Completeness{
			FirstSeq: 100, LastSeq: 109, Expected: 10, Received: 10, Percent: 100, AccountedPercent: 100, Gaps: []vibemon.SeqGap{}}},
		{"empty window", base.Add(-time.Hour), base, vibemon.Completeness{Gaps: []vibemon.SeqGap{}}},
		{"two hours", base, base.Add(2 * time.Hour), vibemon.Completeness{
			FirstSeq: 100, LastSeq: 500, Expected: 401, Received: 87, Percent: 100 * 87.0 / 401, GapCount: 4,
			Unexplained: 314, AccountedPercent: 100 * 87.0 / 401,
			Gaps: []vibemon.SeqGap{gap(200, 499), gap(160, 169), gap(110, 112), gap(150, 150)}}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := s.Completeness(ctx(t), a.org.ID, a.device.ID, tc.from, tc.to)
			must(t, err)
			want := tc.want
			want.DeviceID, want.From, want.To = a.device.ID, tc.from, tc.to
			if got.DeviceID != want.DeviceID || !got.From.Equal(want.From) || !got.To.Equal(want.To) ||
				got.FirstSeq != want.FirstSeq || got.LastSeq != want.LastSeq || got.Expected != want.Expected ||
				got.Received != want.Received || got.Percent != want.Percent || got.GapCount != want.GapCount ||
				got.Explained != want.Explained || got.Unexplained != want.Unexplained ||
				got.AccountedPercent != want.AccountedPercent || len(got.Lost) != 0 ||
				!slices.Equal(got.Gaps, want.Gaps) {
				t.Errorf("Completeness =\n %+v, want\n %+v", *got, want)
			}
		})
	}

	_, err := s.Completeness(ctx(t), b.org.ID, a.device.ID, base, base.Add(time.Hour))
	wantCode(t, err, vibemon.ENOTFOUND)
	_, err = s.Completeness(ctx(t), a.org.ID, a.device.ID, base, base)
	wantCode(t, err, vibemon.EINVALID)
}

func testCompletenessGapLimit(t *testing.T, s vibemon.Store) {
	a := newTenant(t, s, "acme")
	// Every other seq: 150 gaps of one, more than the list holds.
	var rs []vibemon.Reading
	for i := range 151 {
		rs = append(rs, series(a.device.ID, int64(2*i), 1, base.Add(time.Duration(i)*time.Second), 0)...)
	}
	insert(t, s, a.org.ID, rs)
	got, err := s.Completeness(ctx(t), a.org.ID, a.device.ID, base, base.Add(time.Hour))
	must(t, err)
	if got.GapCount != 150 || len(got.Gaps) != vibemon.MaxCompletenessGaps || got.Received != 151 || got.Expected != 301 {
		t.Errorf("gap count %d, listed %d, received %d of %d; want 150, %d, 151 of 301",
			got.GapCount, len(got.Gaps), got.Received, got.Expected, vibemon.MaxCompletenessGaps)
	}
}

func gap(from, to int64) vibemon.SeqGap {
	return vibemon.SeqGap{FromSeq: from, ToSeq: to, Count: to - from + 1, Reason: vibemon.GapUnexplained}
}

func rgap(from, to int64, reason string) vibemon.SeqGap {
	return vibemon.SeqGap{FromSeq: from, ToSeq: to, Count: to - from + 1, Reason: reason}
}

// testCompletenessReportedGaps: holes a gateway reported are listed with
// its reason and counted per reason; what no report covers stays
// "unexplained"; a report is idempotent, belongs to its org, and only the
// part of it that is really missing counts.
func testCompletenessReportedGaps(t *testing.T, s vibemon.Store) {
	a := newTenant(t, s, "acme")
	b := newTenant(t, s, "bravo")
	at := base.Add(time.Hour)
	// seqs 0..99 minus 10..19, 30..34, 50..59 and 70.
	var rs []vibemon.Reading
	for _, r := range series(a.device.ID, 0, 100, base, time.Second) {
		if (r.Seq >= 10 && r.Seq <= 19) || (r.Seq >= 30 && r.Seq <= 34) || (r.Seq >= 50 && r.Seq <= 59) || r.Seq == 70 {
			continue
		}
		rs = append(rs, r)
	}
	insert(t, s, a.org.ID, rs)
	reported := []vibemon.ReportedGap{
		{FromSeq: 10, ToSeq: 19, Reason: vibemon.GapNodeRingOverflow, At: at}, // the whole hole
		{FromSeq: 30, ToSeq: 30, Reason: vibemon.GapQueueFull, At: at},        // queue_full: one row per reading
		{FromSeq: 31, ToSeq: 31, Reason: vibemon.GapQueueFull, At: at},
		{FromSeq: 32, ToSeq: 33, Reason: vibemon.GapQueueFull, At: at},   // 34 not reported
		{FromSeq: 48, ToSeq: 54, Reason: vibemon.GapRejected, At: at},    // 48, 49 arrived after all
		{FromSeq: 200, ToSeq: 210, Reason: vibemon.GapQueueFull, At: at}, // outside the readings
	}
	n, err := s.ReportGaps(ctx(t), a.org.ID, a.device.ID, reported)
	must(t, err)
	if n != len(reported) {
		t.Errorf("ReportGaps stored %d, want %d", n, len(reported))
	}
	n, err = s.ReportGaps(ctx(t), a.org.ID, a.device.ID, reported[:2])
	must(t, err)
	if n != 0 {
		t.Errorf("reporting the same gaps again stored %d, want 0 (idempotent)", n)
	}
	got, err := s.Completeness(ctx(t), a.org.ID, a.device.ID, base, base.Add(time.Hour))
	must(t, err)
	want := vibemon.Completeness{FirstSeq: 0, LastSeq: 99, Expected: 100, Received: 74, Percent: 74,
		Explained: 19, Unexplained: 7, AccountedPercent: 93,
		Lost: map[string]int64{vibemon.GapNodeRingOverflow: 10, vibemon.GapQueueFull: 4, vibemon.GapRejected: 5},
		Gaps: []vibemon.SeqGap{rgap(10, 19, vibemon.GapNodeRingOverflow), rgap(50, 54, vibemon.GapRejected),
			rgap(55, 59, vibemon.GapUnexplained), rgap(30, 33, vibemon.GapQueueFull), rgap(34, 34, vibemon.GapUnexplained),
			rgap(70, 70, vibemon.GapUnexplained)}}
	want.GapCount = int64(len(want.Gaps))
	if got.Received != want.Received || got.Expected != want.Expected || got.Explained != want.Explained ||
		got.Unexplained != want.Unexplained || got.AccountedPercent != want.AccountedPercent || got.Percent != want.Percent ||
		got.GapCount != want.GapCount || !maps.Equal(got.Lost, want.Lost) || !slices.Equal(got.Gaps, want.Gaps) {
		t.Errorf("Completeness =\n %+v, want\n %+v", *got, want)
	}
	// Every hole explained: 100 % accounted for.
	_, err = s.ReportGaps(ctx(t), a.org.ID, a.device.ID, []vibemon.ReportedGap{
		{FromSeq: 34, ToSeq: 34, Reason: vibemon.GapQueueFull, At: at},
		{FromSeq: 55, ToSeq: 59, Reason: vibemon.GapRejected, At: at},
		{FromSeq: 70, ToSeq: 70, Reason: vibemon.GapRejected, At: at}})
	must(t, err)
	got, err = s.Completeness(ctx(t), a.org.ID, a.device.ID, base, base.Add(time.Hour))
	must(t, err)
	if got.Unexplained != 0 || got.Explained != 26 || got.AccountedPercent != 100 || got.Percent != 74 ||
		!slices.Equal(got.Gaps, []vibemon.SeqGap{rgap(10, 19, vibemon.GapNodeRingOverflow), rgap(50, 59, vibemon.GapRejected), rgap(30, 34, vibemon.GapQueueFull), rgap(70, 70, vibemon.GapRejected)}) {
		t.Errorf("after reporting the rest: %+v, want 26 explained, none unexplained, 100 %% accounted, runs merged", *got)
	}

	// A window that starts after a hole: the run back to the device's
	// previous reading (9) is this window's, explained like any other.
	got, err = s.Completeness(ctx(t), a.org.ID, a.device.ID, base.Add(20*time.Second), base.Add(time.Hour))
	must(t, err)
	if got.FirstSeq != 20 || got.Received != 64 || got.Expected != 90 || got.Explained != 26 || got.Unexplained != 0 ||
		got.AccountedPercent != 100 || got.Lost[vibemon.GapNodeRingOverflow] != 10 {
		t.Errorf("window from seq 20: %+v, want 64 received of 90 expected, 10..19 explained as node_ring_overflow", *got)
	}

	// Losses at the very start of a device's life and after its newest
	// reading are only known from reports: they count when they reach its
	// first (last) reading without a break.
	b2 := b.device.ID
	insert(t, s, b.org.ID, series(b2, 10, 10, base, time.Second)) // seqs 10..19
	_, err = s.ReportGaps(ctx(t), b.org.ID, b2, []vibemon.ReportedGap{
		{FromSeq: 0, ToSeq: 4, Reason: vibemon.GapQueueFull, At: at},
		{FromSeq: 5, ToSeq: 9, Reason: vibemon.GapNodeRingOverflow, At: at},
		{FromSeq: 20, ToSeq: 22, Reason: vibemon.GapRejected, At: at},
		{FromSeq: 24, ToSeq: 30, Reason: vibemon.GapRejected, At: at}, // after a break: not this window's
	})
	must(t, err)
	got, err = s.Completeness(ctx(t), b.org.ID, b2, base, base.Add(time.Hour))
	must(t, err)
	if got.Received != 10 || got.Expected != 23 || got.Explained != 13 || got.Unexplained != 0 || got.AccountedPercent != 100 ||
		!slices.Equal(got.Gaps, []vibemon.SeqGap{rgap(0, 4, vibemon.GapQueueFull), rgap(5, 9, vibemon.GapNodeRingOverflow), rgap(20, 22, vibemon.GapRejected)}) {
		t.Errorf("losses at the edges: %+v, want 10 received of 23, 0..9 and 20..22 explained", *got)
	}

	_, err = s.ReportGaps(ctx(t), b.org.ID, a.device.ID, reported)
	wantCode(t, err, vibemon.ENOTFOUND)
	for _, bad := range []vibemon.ReportedGap{
		{FromSeq: 5, ToSeq: 4, Reason: vibemon.GapQueueFull, At: at},
		{FromSeq: -1, ToSeq: 4, Reason: vibemon.GapQueueFull, At: at},
		{FromSeq: 0, ToSeq: 1 << 32, Reason: vibemon.GapQueueFull, At: at},
		{FromSeq: 1, ToSeq: 4, Reason: vibemon.GapUnexplained, At: at},
		{FromSeq: 1, ToSeq: 4, Reason: vibemon.GapRejected},
	} {
		_, err = s.ReportGaps(ctx(t), a.org.ID, a.device.ID, []vibemon.ReportedGap{bad})
		wantCode(t, err, vibemon.EINVALID)
	}
}

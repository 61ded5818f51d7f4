package storetest

import (
	"context"
	"fmt"
	"math"
	"reflect"
	"testing"
	"time"

	"github.com/vibemon/vibemon"
)

// Run runs the conformance suite against stores made by open. open must
// return a new, empty store for each call and close it in t.Cleanup.
// Subtests run in parallel.
func Run(t *testing.T, open func(t *testing.T) vibemon.Store) {
	tests := []struct {
		name string
		fn   func(t *testing.T, s vibemon.Store)
	}{
		{"Ping", testPing},
		{"Orgs", testOrgs},
		{"Users", testUsers},
		{"UsersTenancy", testUsersTenancy},
		{"Sessions/Rotation", testSessionRotation},
		{"Sessions/Expired", testSessionExpired},
		{"Sessions/RevokeFamily", testSessionRevokeFamily},
		{"Sessions/ConcurrentUse", testSessionConcurrentUse},
		{"Assets", testAssets},
		{"AssetsTenancy", testAssetsTenancy},
		{"Devices/RegisterIdempotent", testDeviceRegister},
		{"Devices/UpdateAndTenancy", testDeviceTenancy},
		{"Devices/DeleteRemovesData", testDeviceDelete},
		{"Readings/RawRoundTrip", testReadingsRaw},
		{"Readings/Idempotent", testReadingsIdempotent},
		{"Readings/RangeAndLimit", testReadingsRange},
		{"Readings/OutOfOrderSeq", testReadingsOutOfOrder},
		{"Readings/DeviceState", testReadingsDeviceState},
		{"Readings/Tenancy", testReadingsTenancy},
		{"Readings/InvalidQuery", testReadingsInvalid},
		{"Readings/Concurrent", testReadingsConcurrent},
		{"Readings/Rollups", testRollups},
		{"Readings/Retention", testRetention},
		{"Rules", testRules},
		{"Rules/Kinds", testRuleKinds},
		{"Rules/MoreKinds", testRuleMoreKinds},
		{"Maintenance", testMaintenance},
		{"Alerts/Lifecycle", testAlertLifecycle},
		{"Alerts/ListAndTenancy", testAlertList},
		{"Alerts/ConcurrentUpsert", testAlertConcurrent},
		{"Alerts/Timeline", testAlertTimeline},
		{"Alerts/EscalationOnce", testAlertEscalationOnce},
		{"Alerts/EventsAfter", testAlertEventsAfter},
		{"Alerts/EventsAfterConcurrent", testAlertEventsAfterConcurrent},
		{"Rules/Escalation", testRuleEscalation},
		{"Waveforms/RoundTrip", testWaveformRoundTrip},
		{"Waveforms/Analysis", testWaveformAnalysis},
		{"Waveforms/ListOrderAndRange", testWaveformList},
		{"Waveforms/Tenancy", testWaveformTenancy},
		{"Waveforms/Retention", testWaveformRetention},
		{"Models/Replace", testModels},
		{"APIKeys/CreateAndLookup", testAPIKeys},
		{"APIKeys/Revoke", testAPIKeysRevoke},
		{"APIKeys/Tenancy", testAPIKeysTenancy},
		{"Completeness/Gaps", testCompleteness},
		{"Completeness/ReportedGaps", testCompletenessReportedGaps},
		{"Completeness/GapLimit", testCompletenessGapLimit},
		{"Notifications/Prefs", testNotificationPrefs},
		{"Notifications/TelegramLinkExpiry", testTelegramLinkExpiry},
		{"Notifications/PushTokens", testPushTokens},
		{"Notifications/Webhooks", testWebhooks},
		{"Notifications/Cursor", testNotifyCursor},
		{"Notifications/DeliveryLedger", testDeliveryLedger},
		{"Firmware/Images", testFirmwareImages},
		{"Firmware/SettingsAndOTA", testDeviceSettingsAndOTA},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel() // each subtest has its own store
			tc.fn(t, open(t))
		})
	}
}

// base is the suite's reference time; stores do not validate reading
// times, callers do.
var base = time.Date(2025, 3, 10, 0, 0, 0, 0, time.UTC)

func ctx(t *testing.T) context.Context { return t.Context() }

// wantCode fails t unless err carries the application error code want.
func wantCode(t *testing.T, err error, want string) {
	t.Helper()
	if got := vibemon.ErrorCode(err); got != want {
		t.Fatalf("error code = %q (%v), want %q", got, err, want)
	}
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

// tenant is one org with a user, an asset and a device.
type tenant struct {
	org    *vibemon.Org
	user   *vibemon.User
	asset  *vibemon.Asset
	device *vibemon.Device
}

func newTenant(t *testing.T, s vibemon.Store, name string) *tenant {
	t.Helper()
	o := &vibemon.Org{Name: name}
	must(t, s.CreateOrg(ctx(t), o))
	u := &vibemon.User{OrgID: o.ID, Email: name + "@example.com", Name: name + " owner", Role: vibemon.RoleOwner, PasswordHash: "x"}
	must(t, s.CreateUser(ctx(t), u))
	a := &vibemon.Asset{OrgID: o.ID, Name: name + " pump", Type: "pump", RPM: 1480, ISOGroup: 2, Foundation: vibemon.FoundationRigid, Bearing: "6205"}
	must(t, s.CreateAsset(ctx(t), a))
	d := &vibemon.Device{OrgID: o.ID, AssetID: a.ID, Serial: name + "-node-1", Name: "DE bearing", FirmwareVersion: "1.0.0"}
	if _, err := s.RegisterDevice(ctx(t), d); err != nil {
		t.Fatal(err)
	}
	return &tenant{org: o, user: u, asset: a, device: d}
}

func (tn *tenant) addDevice(t *testing.T, s vibemon.Store, serial string) *vibemon.Device {
	t.Helper()
	d := &vibemon.Device{OrgID: tn.org.ID, Serial: serial}
	if _, err := s.RegisterDevice(ctx(t), d); err != nil {
		t.Fatal(err)
	}
	return d
}

func testPing(t *testing.T, s vibemon.Store) {
	must(t, s.Ping(ctx(t)))
}

func testOrgs(t *testing.T, s vibemon.Store) {
	o := &vibemon.Org{Name: "  Acme  "}
	must(t, s.CreateOrg(ctx(t), o))
	if o.ID == 0 || o.CreatedAt.IsZero() {
		t.Fatalf("CreateOrg left ID=%d CreatedAt=%v unset", o.ID, o.CreatedAt)
	}
	got, err := s.GetOrg(ctx(t), o.ID)
	must(t, err)
	if got.Name != "Acme" || !got.CreatedAt.Equal(o.CreatedAt) {
		t.Errorf("GetOrg = %+v, want name Acme created %v", got, o.CreatedAt)
	}
	o.Name = "Acme Ltd"
	must(t, s.UpdateOrg(ctx(t), o))
	got, err = s.GetOrg(ctx(t), o.ID)
	must(t, err)
	if got.Name != "Acme Ltd" {
		t.Errorf("after UpdateOrg name = %q, want %q", got.Name, "Acme Ltd")
	}
	_, err = s.GetOrg(ctx(t), o.ID+100)
	wantCode(t, err, vibemon.ENOTFOUND)
	wantCode(t, s.UpdateOrg(ctx(t), &vibemon.Org{ID: o.ID + 100, Name: "x"}), vibemon.ENOTFOUND)
	wantCode(t, s.CreateOrg(ctx(t), &vibemon.Org{Name: " "}), vibemon.EINVALID)

	o2 := &vibemon.Org{Name: "Second"}
	must(t, s.CreateOrg(ctx(t), o2))
	ids, err := s.OrgIDs(ctx(t))
	must(t, err)
	if len(ids) != 2 || ids[0] != o.ID || ids[1] != o2.ID {
		t.Errorf("OrgIDs = %v, want [%d %d] in ascending order", ids, o.ID, o2.ID)
	}
}

func testUsers(t *testing.T, s vibemon.Store) {
	n, err := s.CountUsers(ctx(t))
	must(t, err)
	if n != 0 {
		t.Fatalf("CountUsers on a new store = %d, want 0", n)
	}
	a := newTenant(t, s, "a")
	b := newTenant(t, s, "b")

	u := &vibemon.User{OrgID: a.org.ID, Email: "Ann.Engineer@Example.com", Name: "Ann", Role: vibemon.RoleEngineer, PasswordHash: "h1"}
	must(t, s.CreateUser(ctx(t), u))
	if u.ID == 0 || u.CreatedAt.IsZero() {
		t.Fatalf("CreateUser left ID/CreatedAt unset: %+v", u)
	}
	got, err := s.GetUser(ctx(t), a.org.ID, u.ID)
	must(t, err)
	if got.Email != u.Email || got.Name != "Ann" || got.Role != vibemon.RoleEngineer || got.PasswordHash != "h1" || got.OrgID != a.org.ID {
		t.Errorf("GetUser = %+v, want %+v", got, u)
	}

	found, err := s.FindUserByEmail(ctx(t), "ann.engineer@EXAMPLE.com")
	must(t, err)
	if found.ID != u.ID {
		t.Errorf("FindUserByEmail (other case) = user %d, want %d", found.ID, u.ID)
	}
	_, err = s.FindUserByEmail(ctx(t), "nobody@example.com")
	wantCode(t, err, vibemon.ENOTFOUND)

	// E-mails are unique across orgs and without case, because login
	// takes only an e-mail.
	dup := &vibemon.User{OrgID: b.org.ID, Email: "ANN.ENGINEER@example.com", Role: vibemon.RoleViewer, PasswordHash: "h"}
	wantCode(t, s.CreateUser(ctx(t), dup), vibemon.ECONFLICT)
	wantCode(t, s.CreateUser(ctx(t), &vibemon.User{OrgID: a.org.ID, Email: "x@example.com", Role: "boss"}), vibemon.EINVALID)

	list, err := s.ListUsers(ctx(t), a.org.ID)
	must(t, err)
	if len(list) != 2 || list[0].ID != a.user.ID || list[1].ID != u.ID {
		t.Errorf("ListUsers(a) = %d users, want [owner, ann] ordered by id", len(list))
	}

	u.Name, u.Role, u.PasswordHash = "Ann B.", vibemon.RoleAdmin, "h2"
	must(t, s.UpdateUser(ctx(t), u))
	got, err = s.GetUser(ctx(t), a.org.ID, u.ID)
	must(t, err)
	if got.Name != "Ann B." || got.Role != vibemon.RoleAdmin || got.PasswordHash != "h2" {
		t.Errorf("after UpdateUser = %+v", got)
	}

	n, err = s.CountUsers(ctx(t))
	must(t, err)
	if n != 3 {
		t.Errorf("CountUsers = %d, want 3", n)
	}
	must(t, s.DeleteUser(ctx(t), a.org.ID, u.ID))
	_, err = s.GetUser(ctx(t), a.org.ID, u.ID)
	wantCode(t, err, vibemon.ENOTFOUND)
	wantCode(t, s.DeleteUser(ctx(t), a.org.ID, u.ID), vibemon.ENOTFOUND)
	// The e-mail is free again.
	must(t, s.CreateUser(ctx(t), &vibemon.User{OrgID: b.org.ID, Email: "ann.engineer@example.com", Role: vibemon.RoleViewer, PasswordHash: "h"}))
}

func testUsersTenancy(t *testing.T, s vibemon.Store) {
	a := newTenant(t, s, "a")
	b := newTenant(t, s, "b")
	_, err := s.GetUser(ctx(t), b.org.ID, a.user.ID)
	wantCode(t, err, vibemon.ENOTFOUND)
	hijack := *a.user
	hijack.OrgID, hijack.Role, hijack.PasswordHash = b.org.ID, vibemon.RoleViewer, "evil"
	wantCode(t, s.UpdateUser(ctx(t), &hijack), vibemon.ENOTFOUND)
	wantCode(t, s.DeleteUser(ctx(t), b.org.ID, a.user.ID), vibemon.ENOTFOUND)
	got, err := s.GetUser(ctx(t), a.org.ID, a.user.ID)
	must(t, err)
	if got.Role != vibemon.RoleOwner || got.PasswordHash != "x" {
		t.Errorf("org b changed org a's user: %+v", got)
	}
	list, err := s.ListUsers(ctx(t), b.org.ID)
	must(t, err)
	for _, u := range list {
		if u.OrgID != b.org.ID {
			t.Errorf("ListUsers(b) returned user %d of org %d", u.ID, u.OrgID)
		}
	}
}

func newSession(t *testing.T, s vibemon.Store, tn *tenant, token, family string, expires time.Time) {
	t.Helper()
	must(t, s.CreateSession(ctx(t), &vibemon.Session{TokenHash: token, FamilyID: family, UserID: tn.user.ID, OrgID: tn.org.ID, ExpiresAt: expires}))
}

func testSessionRotation(t *testing.T, s vibemon.Store) {
	a := newTenant(t, s, "a")
	now := base
	exp := now.Add(30 * 24 * time.Hour)
	newSession(t, s, a, "t1", "fam", exp)
	newSession(t, s, a, "other", "fam2", exp)

	got, err := s.UseSession(ctx(t), "t1", now)
	must(t, err)
	if got.UserID != a.user.ID || got.OrgID != a.org.ID || got.FamilyID != "fam" || !got.ExpiresAt.Equal(exp) {
		t.Errorf("UseSession = %+v, want user %d org %d family fam expires %v", got, a.user.ID, a.org.ID, exp)
	}
	// Rotation: the next token of the family.
	newSession(t, s, a, "t2", "fam", exp)

	// t1 presented again: stolen. The whole family is revoked.
	_, err = s.UseSession(ctx(t), "t1", now.Add(time.Minute))
	wantCode(t, err, vibemon.EUNAUTHORIZED)
	_, err = s.UseSession(ctx(t), "t2", now.Add(time.Minute))
	wantCode(t, err, vibemon.EUNAUTHORIZED)
	// Other families are untouched.
	_, err = s.UseSession(ctx(t), "other", now.Add(time.Minute))
	must(t, err)

	_, err = s.UseSession(ctx(t), "unknown", now)
	wantCode(t, err, vibemon.EUNAUTHORIZED)

	// Deleting the user ends their sessions.
	newSession(t, s, a, "t3", "fam3", exp)
	u := &vibemon.User{OrgID: a.org.ID, Email: "second@example.com", Role: vibemon.RoleViewer, PasswordHash: "h"}
	must(t, s.CreateUser(ctx(t), u))
	must(t, s.CreateSession(ctx(t), &vibemon.Session{TokenHash: "u2", FamilyID: "fam4", UserID: u.ID, OrgID: a.org.ID, ExpiresAt: exp}))
	must(t, s.DeleteUser(ctx(t), a.org.ID, u.ID))
	_, err = s.UseSession(ctx(t), "u2", now)
	wantCode(t, err, vibemon.EUNAUTHORIZED)
}

func testSessionExpired(t *testing.T, s vibemon.Store) {
	a := newTenant(t, s, "a")
	exp := base.Add(time.Hour)
	newSession(t, s, a, "t1", "fam", exp)
	newSession(t, s, a, "t2", "fam2", exp)
	_, err := s.UseSession(ctx(t), "t1", exp)
	wantCode(t, err, vibemon.EUNAUTHORIZED)
	_, err = s.UseSession(ctx(t), "t2", exp.Add(-time.Millisecond))
	must(t, err)
}

func testSessionRevokeFamily(t *testing.T, s vibemon.Store) {
	a := newTenant(t, s, "a")
	exp := base.Add(time.Hour)
	newSession(t, s, a, "t1", "fam", exp)
	newSession(t, s, a, "t2", "fam", exp)
	must(t, s.RevokeFamily(ctx(t), "fam"))
	for _, tok := range []string{"t1", "t2"} {
		_, err := s.UseSession(ctx(t), tok, base)
		wantCode(t, err, vibemon.EUNAUTHORIZED)
	}
	must(t, s.RevokeFamily(ctx(t), "no-such-family"))
}

// testSessionConcurrentUse: a token presented twice at once is spent once;
// the other use is a reuse, so the family ends revoked.
func testSessionConcurrentUse(t *testing.T, s vibemon.Store) {
	a := newTenant(t, s, "a")
	newSession(t, s, a, "t1", "fam", base.Add(time.Hour))
	const n = 4
	errs := make(chan error, n)
	for i := 0; i < n; i++ {
		go func() {
			_, err := s.UseSession(context.Background(), "t1", base)
			errs <- err
		}()
	}
	ok := 0
	for i := 0; i < n; i++ {
		err := <-errs
		if err == nil {
			ok++
		} else if vibemon.ErrorCode(err) != vibemon.EUNAUTHORIZED {
			t.Errorf("concurrent UseSession: %v, want nil or unauthorized", err)
		}
	}
	if ok != 1 {
		t.Errorf("%d of %d concurrent uses of one token succeeded, want exactly 1", ok, n)
	}
	// The winner's rotated token joins a revoked family: it is dead too.
	newSession(t, s, a, "t2", "fam", base.Add(time.Hour))
	_, err := s.UseSession(ctx(t), "t2", base)
	wantCode(t, err, vibemon.EUNAUTHORIZED)
}

func testAssets(t *testing.T, s vibemon.Store) {
	a := newTenant(t, s, "a")
	got, err := s.GetAsset(ctx(t), a.org.ID, a.asset.ID)
	must(t, err)
	if *got != *a.asset {
		t.Errorf("GetAsset = %+v, want %+v", got, a.asset)
	}
	second := &vibemon.Asset{OrgID: a.org.ID, Name: "Fan", ISOGroup: 1, Foundation: vibemon.FoundationFlexible}
	must(t, s.CreateAsset(ctx(t), second))
	wantCode(t, s.CreateAsset(ctx(t), &vibemon.Asset{OrgID: a.org.ID, Name: "bad", ISOGroup: 3, Foundation: vibemon.FoundationRigid}), vibemon.EINVALID)

	list, err := s.ListAssets(ctx(t), a.org.ID)
	must(t, err)
	if len(list) != 2 || list[0].ID != a.asset.ID || list[1].ID != second.ID {
		t.Errorf("ListAssets = %d assets, want [pump, fan]", len(list))
	}

	second.RPM, second.Bearing, second.Name = 2950, "6308", "Fan 2"
	must(t, s.UpdateAsset(ctx(t), second))
	got, err = s.GetAsset(ctx(t), a.org.ID, second.ID)
	must(t, err)
	if got.RPM != 2950 || got.Bearing != "6308" || got.Name != "Fan 2" || !got.CreatedAt.Equal(second.CreatedAt) {
		t.Errorf("after UpdateAsset = %+v", got)
	}
	missing := *second
	missing.ID += 1000
	wantCode(t, s.UpdateAsset(ctx(t), &missing), vibemon.ENOTFOUND)

	// Deleting an asset detaches its devices; they stay.
	must(t, s.DeleteAsset(ctx(t), a.org.ID, a.asset.ID))
	_, err = s.GetAsset(ctx(t), a.org.ID, a.asset.ID)
	wantCode(t, err, vibemon.ENOTFOUND)
	d, err := s.GetDevice(ctx(t), a.org.ID, a.device.ID)
	must(t, err)
	if d.AssetID != 0 {
		t.Errorf("device asset_id after DeleteAsset = %d, want 0", d.AssetID)
	}
	wantCode(t, s.DeleteAsset(ctx(t), a.org.ID, a.asset.ID), vibemon.ENOTFOUND)
}

func testAssetsTenancy(t *testing.T, s vibemon.Store) {
	a := newTenant(t, s, "a")
	b := newTenant(t, s, "b")
	_, err := s.GetAsset(ctx(t), b.org.ID, a.asset.ID)
	wantCode(t, err, vibemon.ENOTFOUND)
	hijack := *a.asset
	hijack.OrgID, hijack.Name = b.org.ID, "stolen"
	wantCode(t, s.UpdateAsset(ctx(t), &hijack), vibemon.ENOTFOUND)
	wantCode(t, s.DeleteAsset(ctx(t), b.org.ID, a.asset.ID), vibemon.ENOTFOUND)
	got, err := s.GetAsset(ctx(t), a.org.ID, a.asset.ID)
	must(t, err)
	if got.Name != a.asset.Name {
		t.Errorf("org b renamed org a's asset to %q", got.Name)
	}
	list, err := s.ListAssets(ctx(t), b.org.ID)
	must(t, err)
	if len(list) != 1 || list[0].ID != b.asset.ID {
		t.Errorf("ListAssets(b) = %d assets, want only b's", len(list))
	}
}

func testDeviceRegister(t *testing.T, s vibemon.Store) {
	a := newTenant(t, s, "a")
	b := newTenant(t, s, "b")
	again := &vibemon.Device{OrgID: a.org.ID, Serial: a.device.Serial, Name: "other name"}
	created, err := s.RegisterDevice(ctx(t), again)
	must(t, err)
	if created || again.ID != a.device.ID || again.Name != a.device.Name || again.AssetID != a.asset.ID {
		t.Errorf("RegisterDevice of a known serial = created %v %+v, want the existing device %+v", created, again, a.device)
	}
	// The same serial in another org is another device.
	other := &vibemon.Device{OrgID: b.org.ID, Serial: a.device.Serial}
	created, err = s.RegisterDevice(ctx(t), other)
	must(t, err)
	if !created || other.ID == a.device.ID {
		t.Errorf("RegisterDevice in org b = created %v id %d, want a new device", created, other.ID)
	}
	// An asset of another org cannot be used.
	_, err = s.RegisterDevice(ctx(t), &vibemon.Device{OrgID: b.org.ID, Serial: "new", AssetID: a.asset.ID})
	wantCode(t, err, vibemon.EINVALID)
	_, err = s.RegisterDevice(ctx(t), &vibemon.Device{OrgID: b.org.ID, Serial: " "})
	wantCode(t, err, vibemon.EINVALID)

	list, err := s.ListDevices(ctx(t), b.org.ID)
	must(t, err)
	if len(list) != 2 || list[0].ID != b.device.ID || list[1].ID != other.ID {
		t.Errorf("ListDevices(b) = %d devices, want b's two", len(list))
	}
}

func testDeviceTenancy(t *testing.T, s vibemon.Store) {
	a := newTenant(t, s, "a")
	b := newTenant(t, s, "b")
	d := *a.device
	d.Name, d.FirmwareVersion, d.AssetID = "NDE bearing", "1.1.0", 0
	must(t, s.UpdateDevice(ctx(t), &d))
	got, err := s.GetDevice(ctx(t), a.org.ID, d.ID)
	must(t, err)
	if got.Name != "NDE bearing" || got.FirmwareVersion != "1.1.0" || got.AssetID != 0 || got.Serial != a.device.Serial {
		t.Errorf("after UpdateDevice = %+v", got)
	}
	d.AssetID = b.asset.ID
	wantCode(t, s.UpdateDevice(ctx(t), &d), vibemon.EINVALID)

	_, err = s.GetDevice(ctx(t), b.org.ID, a.device.ID)
	wantCode(t, err, vibemon.ENOTFOUND)
	hijack := *a.device
	hijack.OrgID, hijack.AssetID = b.org.ID, b.asset.ID
	wantCode(t, s.UpdateDevice(ctx(t), &hijack), vibemon.ENOTFOUND)
	wantCode(t, s.DeleteDevice(ctx(t), b.org.ID, a.device.ID), vibemon.ENOTFOUND)
	if _, err := s.GetDevice(ctx(t), a.org.ID, a.device.ID); err != nil {
		t.Errorf("org b's delete removed org a's device: %v", err)
	}
}

func testDeviceDelete(t *testing.T, s vibemon.Store) {
	a := newTenant(t, s, "a")
	keep := a.addDevice(t, s, "keep")
	insert(t, s, a.org.ID, series(a.device.ID, 0, 10, base, time.Minute))
	insert(t, s, a.org.ID, series(keep.ID, 0, 10, base, time.Minute))
	rule := newRule(t, s, a)
	al := &vibemon.Alert{OrgID: a.org.ID, RuleID: rule.ID, DeviceID: a.device.ID, Severity: vibemon.SeverityWarning,
		Metric: "vel_rms_x", Value: 8, Threshold: 7.1, UpdatedAt: base}
	_, err := s.UpsertAlert(ctx(t), al)
	must(t, err)

	must(t, s.DeleteDevice(ctx(t), a.org.ID, a.device.ID))
	_, err = s.GetDevice(ctx(t), a.org.ID, a.device.ID)
	wantCode(t, err, vibemon.ENOTFOUND)
	_, err = s.QueryReadings(ctx(t), a.org.ID, vibemon.ReadingQuery{DeviceID: a.device.ID, From: base, To: base.Add(time.Hour), Bucket: vibemon.BucketRaw})
	wantCode(t, err, vibemon.ENOTFOUND)
	_, err = s.GetAlert(ctx(t), a.org.ID, al.ID)
	wantCode(t, err, vibemon.ENOTFOUND)
	wantCode(t, s.DeleteDevice(ctx(t), a.org.ID, a.device.ID), vibemon.ENOTFOUND)

	// The other device keeps its readings.
	pts := query(t, s, a.org.ID, vibemon.ReadingQuery{DeviceID: keep.ID, From: base, To: base.Add(time.Hour), Bucket: vibemon.BucketRaw})
	if len(pts) != 10 {
		t.Errorf("the other device has %d readings after DeleteDevice, want 10", len(pts))
	}
	// A device registered again with the same serial starts empty.
	d := &vibemon.Device{OrgID: a.org.ID, Serial: a.device.Serial}
	_, err = s.RegisterDevice(ctx(t), d)
	must(t, err)
	for _, b := range []vibemon.Bucket{vibemon.BucketRaw, vibemon.BucketMinute, vibemon.BucketDay} {
		pts = query(t, s, a.org.ID, vibemon.ReadingQuery{DeviceID: d.ID, From: base, To: base.Add(time.Hour), Bucket: b})
		if len(pts) != 0 {
			t.Errorf("re-registered device has %d %s points, want 0", len(pts), b)
		}
	}
	if d.LastSeenAt != nil {
		t.Errorf("re-registered device LastSeenAt = %v, want nil", d.LastSeenAt)
	}
}

// series returns n readings of device from seq, every step from start, with
// values derived from the seq.
func series(device, seq0 int64, n int, start time.Time, step time.Duration) []vibemon.Reading {
	rs := make([]vibemon.Reading, n)
	for i := range rs {
		seq := seq0 + int64(i)
		r := vibemon.NewReading(device, seq, start.Add(time.Duration(i)*step))
		r.Values[vibemon.VelRMSX] = 1 + float64(seq%50)/10
		r.Values[vibemon.TempC] = 40 + float64(seq%7)
		r.Values[vibemon.BatteryV] = 3.7 - float64(seq)/1e5
		rs[i] = r
	}
	return rs
}

func insert(t *testing.T, s vibemon.Store, orgID int64, rs []vibemon.Reading) []bool {
	t.Helper()
	isNew, err := s.InsertReadings(ctx(t), orgID, rs)
	if err != nil {
		t.Fatalf("InsertReadings: %v", err)
	}
	if len(isNew) != len(rs) {
		t.Fatalf("InsertReadings returned %d flags for %d readings", len(isNew), len(rs))
	}
	return isNew
}

func countTrue(bs []bool) int {
	n := 0
	for _, b := range bs {
		if b {
			n++
		}
	}
	return n
}

func query(t *testing.T, s vibemon.Store, orgID int64, q vibemon.ReadingQuery) []vibemon.Point {
	t.Helper()
	pts, err := s.QueryReadings(ctx(t), orgID, q)
	if err != nil {
		t.Fatalf("QueryReadings(%+v): %v", q, err)
	}
	return pts
}

// sameFloat compares with NaN equal to NaN.
func sameFloat(a, b float64) bool {
	if math.IsNaN(a) || math.IsNaN(b) {
		return math.IsNaN(a) && math.IsNaN(b)
	}
	return a == b
}

// closeFloat compares with a relative tolerance, NaN equal to NaN.
func closeFloat(a, b float64) bool {
	if math.IsNaN(a) || math.IsNaN(b) {
		return math.IsNaN(a) && math.IsNaN(b)
	}
	return math.Abs(a-b) <= 1e-9*math.Max(1, math.Max(math.Abs(a), math.Abs(b)))
}

func testReadingsRaw(t *testing.T, s vibemon.Store) {
	a := newTenant(t, s, "a")
	rs := make([]vibemon.Reading, 5)
	for i := range rs {
		r := vibemon.NewReading(a.device.ID, int64(i), base.Add(time.Duration(i)*time.Second))
		for m := range r.Values {
			if (i+m)%3 != 0 { // a pattern of measured and not measured metrics
				r.Values[m] = float64(i*100+m) / 7
			}
		}
		rs[i] = r
	}
	isNew := insert(t, s, a.org.ID, rs)
	if countTrue(isNew) != len(rs) {
		t.Fatalf("first insert: %d new, want %d", countTrue(isNew), len(rs))
	}
	pts := query(t, s, a.org.ID, vibemon.ReadingQuery{DeviceID: a.device.ID, From: base, To: base.Add(time.Minute), Bucket: vibemon.BucketRaw})
	if len(pts) != len(rs) {
		t.Fatalf("raw query returned %d points, want %d", len(pts), len(rs))
	}
	for i, p := range pts {
		r := rs[i]
		if !p.TS.Equal(r.TS) || p.Seq != r.Seq || p.Count != 1 || p.Min != nil || p.Max != nil {
			t.Errorf("point %d = ts %v seq %d count %d min %v max %v, want ts %v seq %d count 1, no min/max",
				i, p.TS, p.Seq, p.Count, p.Min, p.Max, r.TS, r.Seq)
		}
		if len(p.Avg) != vibemon.NumMetrics {
			t.Fatalf("point %d has %d values, want %d", i, len(p.Avg), vibemon.NumMetrics)
		}
		for m, v := range p.Avg {
			if !sameFloat(v, r.Values[m]) {
				t.Errorf("point %d %s = %v, want %v", i, vibemon.Metric(m), v, r.Values[m])
			}
		}
	}
	// A subset of metrics, in the caller's order.
	sub := []vibemon.Metric{vibemon.TempC, vibemon.AccRMSX}
	pts = query(t, s, a.org.ID, vibemon.ReadingQuery{DeviceID: a.device.ID, From: base, To: base.Add(time.Minute), Bucket: vibemon.BucketRaw, Metrics: sub})
	for i, p := range pts {
		if len(p.Avg) != 2 || !sameFloat(p.Avg[0], rs[i].Values[vibemon.TempC]) || !sameFloat(p.Avg[1], rs[i].Values[vibemon.AccRMSX]) {
			t.Errorf("subset point %d = %v, want [%v %v]", i, p.Avg, rs[i].Values[vibemon.TempC], rs[i].Values[vibemon.AccRMSX])
		}
	}
}

func testReadingsIdempotent(t *testing.T, s vibemon.Store) {
	a := newTenant(t, s, "a")
	batch := series(a.device.ID, 0, 100, base, time.Second)
	if got := countTrue(insert(t, s, a.org.ID, batch)); got != 100 {
		t.Fatalf("first batch: %d new, want 100", got)
	}
	if got := countTrue(insert(t, s, a.org.ID, batch)); got != 0 {
		t.Fatalf("same batch again: %d new, want 0", got)
	}
	// Overlapping: seq 50..149; the first 50 are duplicates.
	overlap := series(a.device.ID, 50, 100, base.Add(50*time.Second), time.Second)
	isNew := insert(t, s, a.org.ID, overlap)
	for i, n := range isNew {
		if want := i >= 50; n != want {
			t.Fatalf("overlapping batch: isNew[%d] = %v, want %v", i, n, want)
		}
	}
	// A batch with the same reading twice stores it once.
	twice := series(a.device.ID, 500, 1, base.Add(time.Hour), time.Second)
	twice = append(twice, twice[0])
	if got := insert(t, s, a.org.ID, twice); !got[0] || got[1] {
		t.Errorf("a reading twice in one batch: isNew = %v, want [true false]", got)
	}
	pts := query(t, s, a.org.ID, vibemon.ReadingQuery{DeviceID: a.device.ID, From: base, To: base.Add(2 * time.Hour), Bucket: vibemon.BucketRaw})
	if len(pts) != 151 {
		t.Errorf("stored %d readings, want 151", len(pts))
	}
	hour := query(t, s, a.org.ID, vibemon.ReadingQuery{DeviceID: a.device.ID, From: base, To: base.Add(2 * time.Hour), Bucket: vibemon.BucketHour})
	var total int64
	for _, p := range hour {
		total += p.Count
	}
	if total != 151 {
		t.Errorf("hourly rollups count %d readings, want 151 (duplicates must not count)", total)
	}
}

func testReadingsRange(t *testing.T, s vibemon.Store) {
	a := newTenant(t, s, "a")
	insert(t, s, a.org.ID, series(a.device.ID, 0, 120, base, 30*time.Second)) // one hour
	tests := []struct {
		name      string
		from, to  time.Time
		limit     int
		wantFirst int64 // seq
		wantN     int
	}{
		{"whole hour", base, base.Add(time.Hour), 0, 0, 120},
		{"from is inclusive, to exclusive", base.Add(time.Minute), base.Add(2 * time.Minute), 0, 2, 2},
		{"unaligned bounds", base.Add(45 * time.Second), base.Add(90*time.Second + time.Millisecond), 0, 2, 2},
		{"limit keeps the oldest", base, base.Add(time.Hour), 5, 0, 5},
		{"before the data", base.Add(-time.Hour), base, 0, 0, 0},
		{"after the data", base.Add(time.Hour), base.Add(2 * time.Hour), 0, 0, 0},
		{"wider than the data", base.Add(-48 * time.Hour), base.Add(48 * time.Hour), 0, 0, 120},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			pts := query(t, s, a.org.ID, vibemon.ReadingQuery{DeviceID: a.device.ID, From: tc.from, To: tc.to, Bucket: vibemon.BucketRaw, Limit: tc.limit})
			if len(pts) != tc.wantN {
				t.Fatalf("got %d points, want %d", len(pts), tc.wantN)
			}
			for i, p := range pts {
				if p.TS.Before(tc.from) || !p.TS.Before(tc.to) {
					t.Errorf("point %d at %v is outside [%v, %v)", i, p.TS, tc.from, tc.to)
				}
				if i > 0 && !pts[i-1].TS.Before(p.TS) {
					t.Errorf("points %d and %d are not ordered by time", i-1, i)
				}
			}
			if tc.wantN > 0 && pts[0].Seq != tc.wantFirst {
				t.Errorf("first seq = %d, want %d", pts[0].Seq, tc.wantFirst)
			}
		})
	}
	// Bucketed queries: [from, to) over bucket starts; limit keeps the oldest.
	pts := query(t, s, a.org.ID, vibemon.ReadingQuery{DeviceID: a.device.ID, From: base, To: base.Add(time.Hour), Bucket: vibemon.BucketMinute, Limit: 10})
	if len(pts) != 10 || !pts[0].TS.Equal(base) || pts[0].Count != 2 {
		t.Errorf("1m with limit 10: %d points, first %+v; want 10 starting at %v with count 2", len(pts), pts[0], base)
	}
	pts = query(t, s, a.org.ID, vibemon.ReadingQuery{DeviceID: a.device.ID, From: base.Add(10 * time.Minute), To: base.Add(20 * time.Minute), Bucket: vibemon.BucketMinute})
	if len(pts) != 10 || !pts[0].TS.Equal(base.Add(10*time.Minute)) {
		t.Errorf("1m over [10m, 20m): %d points, want 10 from %v", len(pts), base.Add(10*time.Minute))
	}
}

func testReadingsOutOfOrder(t *testing.T, s vibemon.Store) {
	// A node whose seq order differs from time order (a clock corrected
	// after boot, or a queue flushed late) must still be found by time.
	a := newTenant(t, s, "a")
	day := 24 * time.Hour
	rs := []vibemon.Reading{
		series(a.device.ID, 10, 1, base.Add(2*day), 0)[0],
		series(a.device.ID, 11, 1, base, 0)[0],
		series(a.device.ID, 12, 1, base.Add(day), 0)[0],
		series(a.device.ID, 13, 1, base.Add(3*day), 0)[0],
	}
	insert(t, s, a.org.ID, rs[:2])
	insert(t, s, a.org.ID, rs[2:])
	pts := query(t, s, a.org.ID, vibemon.ReadingQuery{DeviceID: a.device.ID, From: base.Add(day), To: base.Add(3 * day), Bucket: vibemon.BucketRaw})
	if len(pts) != 2 || pts[0].Seq != 12 || pts[1].Seq != 10 {
		var seqs []int64
		for _, p := range pts {
			seqs = append(seqs, p.Seq)
		}
		t.Errorf("days 1..3 seqs = %v, want [12 10]", seqs)
	}
	pts = query(t, s, a.org.ID, vibemon.ReadingQuery{DeviceID: a.device.ID, From: base, To: base.Add(4 * day), Bucket: vibemon.BucketDay})
	if len(pts) != 4 {
		t.Errorf("1d points = %d, want 4", len(pts))
	}
}

func testReadingsDeviceState(t *testing.T, s vibemon.Store) {
	a := newTenant(t, s, "a")
	rs := series(a.device.ID, 0, 3, base, time.Minute)
	rs[2].Values[vibemon.BatteryV] = math.NaN() // the newest reading has no battery value
	rs[1].Values[vibemon.BatteryV] = 3.55
	insert(t, s, a.org.ID, rs)
	d, err := s.GetDevice(ctx(t), a.org.ID, a.device.ID)
	must(t, err)
	if d.LastSeenAt == nil || !d.LastSeenAt.Equal(rs[2].TS) {
		t.Errorf("LastSeenAt = %v, want %v", d.LastSeenAt, rs[2].TS)
	}
	if d.BatteryV == nil || *d.BatteryV != 3.55 {
		t.Errorf("BatteryV = %v, want 3.55 (the newest reading that has one)", d.BatteryV)
	}
	// An older reading synced late does not move LastSeenAt or BatteryV back.
	old := series(a.device.ID, 100, 1, base.Add(-time.Hour), 0)
	old[0].Values[vibemon.BatteryV] = 4.1
	insert(t, s, a.org.ID, old)
	d, err = s.GetDevice(ctx(t), a.org.ID, a.device.ID)
	must(t, err)
	if !d.LastSeenAt.Equal(rs[2].TS) || *d.BatteryV != 3.55 {
		t.Errorf("after a late old reading: LastSeenAt %v BatteryV %v, want %v and 3.55", d.LastSeenAt, *d.BatteryV, rs[2].TS)
	}
}

func testReadingsTenancy(t *testing.T, s vibemon.Store) {
	a := newTenant(t, s, "a")
	b := newTenant(t, s, "b")
	// Org a cannot write into org b's device, even mixed with its own.
	mixed := append(series(a.device.ID, 0, 5, base, time.Second), series(b.device.ID, 0, 5, base, time.Second)...)
	_, err := s.InsertReadings(ctx(t), a.org.ID, mixed)
	wantCode(t, err, vibemon.ENOTFOUND)
	for _, tn := range []*tenant{a, b} {
		pts := query(t, s, tn.org.ID, vibemon.ReadingQuery{DeviceID: tn.device.ID, From: base, To: base.Add(time.Hour), Bucket: vibemon.BucketRaw})
		if len(pts) != 0 {
			t.Errorf("org %s device has %d readings after a rejected batch, want 0", tn.org.Name, len(pts))
		}
	}
	insert(t, s, b.org.ID, series(b.device.ID, 0, 5, base, time.Second))
	for _, bucket := range []vibemon.Bucket{vibemon.BucketRaw, vibemon.BucketHour} {
		_, err = s.QueryReadings(ctx(t), a.org.ID, vibemon.ReadingQuery{DeviceID: b.device.ID, From: base, To: base.Add(time.Hour), Bucket: bucket})
		wantCode(t, err, vibemon.ENOTFOUND)
	}
}

func testReadingsInvalid(t *testing.T, s vibemon.Store) {
	a := newTenant(t, s, "a")
	tests := []struct {
		name string
		q    vibemon.ReadingQuery
	}{
		{"unknown bucket", vibemon.ReadingQuery{From: base, To: base.Add(time.Hour), Bucket: "5m"}},
		{"to before from", vibemon.ReadingQuery{From: base, To: base.Add(-time.Hour), Bucket: vibemon.BucketRaw}},
		{"empty range", vibemon.ReadingQuery{From: base, To: base, Bucket: vibemon.BucketHour}},
		{"negative limit", vibemon.ReadingQuery{From: base, To: base.Add(time.Hour), Bucket: vibemon.BucketRaw, Limit: -1}},
		{"unknown metric", vibemon.ReadingQuery{From: base, To: base.Add(time.Hour), Bucket: vibemon.BucketRaw, Metrics: []vibemon.Metric{vibemon.Metric(vibemon.NumMetrics)}}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			tc.q.DeviceID = a.device.ID
			_, err := s.QueryReadings(ctx(t), a.org.ID, tc.q)
			wantCode(t, err, vibemon.EINVALID)
		})
	}
	_, err := s.QueryReadings(ctx(t), a.org.ID, vibemon.ReadingQuery{DeviceID: a.device.ID + 1000, From: base, To: base.Add(time.Hour), Bucket: vibemon.BucketRaw})
	wantCode(t, err, vibemon.ENOTFOUND)
}

func testReadingsConcurrent(t *testing.T, s vibemon.Store) {
	a := newTenant(t, s, "a")
	d2 := a.addDevice(t, s, "second")
	const workers, batches, size = 8, 10, 50
	// Worker w writes seq ranges that overlap with worker w+1's, on both
	// devices, so duplicates race with inserts.
	type result struct {
		isNew int
		err   error
	}
	results := make(chan result, workers*batches)
	for w := 0; w < workers; w++ {
		go func() {
			for b := 0; b < batches; b++ {
				seq0 := int64((w*batches + b) * size / 2)
				dev := a.device.ID
				if b%2 == 1 {
					dev = d2.ID
				}
				rs := series(dev, seq0, size, base.Add(time.Duration(seq0)*time.Second), time.Second)
				isNew, err := s.InsertReadings(context.Background(), a.org.ID, rs)
				results <- result{countTrue(isNew), err}
			}
		}()
	}
	totalNew := 0
	for i := 0; i < workers*batches; i++ {
		r := <-results
		if r.err != nil {
			t.Fatalf("concurrent InsertReadings: %v", r.err)
		}
		totalNew += r.isNew
	}
	// Count the distinct (device, seq) pairs that were sent.
	want := map[[2]int64]bool{}
	for w := 0; w < workers; w++ {
		for b := 0; b < batches; b++ {
			seq0 := int64((w*batches + b) * size / 2)
			dev := a.device.ID
			if b%2 == 1 {
				dev = d2.ID
			}
			for i := int64(0); i < size; i++ {
				want[[2]int64{dev, seq0 + i}] = true
			}
		}
	}
	if totalNew != len(want) {
		t.Errorf("readings reported new = %d, want %d distinct", totalNew, len(want))
	}
	stored := 0
	var rolled int64
	for _, dev := range []int64{a.device.ID, d2.ID} {
		stored += len(query(t, s, a.org.ID, vibemon.ReadingQuery{DeviceID: dev, From: base.Add(-time.Hour), To: base.Add(24 * time.Hour), Bucket: vibemon.BucketRaw}))
		for _, p := range query(t, s, a.org.ID, vibemon.ReadingQuery{DeviceID: dev, From: base.Add(-time.Hour), To: base.Add(24 * time.Hour), Bucket: vibemon.BucketDay}) {
			rolled += p.Count
		}
	}
	if stored != len(want) || rolled != int64(len(want)) {
		t.Errorf("stored %d readings, rollups count %d, want %d", stored, rolled, len(want))
	}
}

// expectedBucket aggregates raw readings the slow, obvious way.
type expectedBucket struct {
	count         int64
	n             [vibemon.NumMetrics]int
	sum, min, max [vibemon.NumMetrics]float64
}

func testRollups(t *testing.T, s vibemon.Store) {
	a := newTenant(t, s, "a")
	other := a.addDevice(t, s, "other")
	// Random readings over 3 days plus: some metrics missing, irregular
	// times, sent in batches of varying size, out of order, with repeats.
	rng := newRand(42)
	start := base.Add(-90 * time.Minute) // not aligned to a day
	var all []vibemon.Reading
	for seq := int64(0); seq < 2000; seq++ {
		ts := start.Add(time.Duration(rng.intn(3*24*3600*1000)) * time.Millisecond)
		r := vibemon.NewReading(a.device.ID, seq, ts)
		for m := range r.Values {
			if rng.intn(10) < 7 {
				lo, hi := vibemon.Metric(m).Range()
				r.Values[m] = lo + (hi-lo)*rng.float()
			}
		}
		r.Values[vibemon.VelRMSX] = float64(rng.intn(1000)) / 100 // always present
		all = append(all, r)
	}
	insert(t, s, a.org.ID, series(other.ID, 0, 500, start, time.Minute)) // must not leak in
	for i := 0; i < len(all); {
		n := 1 + rng.intn(400)
		j := min(len(all), i+n)
		insert(t, s, a.org.ID, all[i:j])
		if rng.intn(3) == 0 { // a resend, partly overlapping
			insert(t, s, a.org.ID, all[max(0, i-50):j])
		}
		i = j
	}
	from, to := start.Add(-24*time.Hour), start.Add(4*24*time.Hour)
	for _, bucket := range []vibemon.Bucket{vibemon.BucketMinute, vibemon.BucketHour, vibemon.BucketDay} {
		t.Run(string(bucket), func(t *testing.T) {
			width := bucket.Duration()
			want := map[time.Time]*expectedBucket{}
			for _, r := range all {
				k := r.TS.Truncate(width)
				e := want[k]
				if e == nil {
					e = &expectedBucket{}
					want[k] = e
				}
				e.count++
				for m, v := range r.Values {
					if math.IsNaN(v) {
						continue
					}
					if e.n[m] == 0 || v < e.min[m] {
						e.min[m] = v
					}
					if e.n[m] == 0 || v > e.max[m] {
						e.max[m] = v
					}
					e.n[m]++
					e.sum[m] += v
				}
			}
			pts := query(t, s, a.org.ID, vibemon.ReadingQuery{DeviceID: a.device.ID, From: from, To: to, Bucket: bucket})
			if len(pts) != len(want) {
				t.Fatalf("%d buckets, want %d", len(pts), len(want))
			}
			for i, p := range pts {
				if i > 0 && !pts[i-1].TS.Before(p.TS) {
					t.Fatalf("buckets %d and %d are not ordered", i-1, i)
				}
				e := want[p.TS]
				if e == nil {
					t.Fatalf("bucket %v should not exist", p.TS)
				}
				if p.Count != e.count {
					t.Errorf("bucket %v count = %d, want %d", p.TS, p.Count, e.count)
				}
				for m := 0; m < vibemon.NumMetrics; m++ {
					avg, lo, hi := math.NaN(), math.NaN(), math.NaN()
					if e.n[m] > 0 {
						avg, lo, hi = e.sum[m]/float64(e.n[m]), e.min[m], e.max[m]
					}
					if !closeFloat(p.Avg[m], avg) || !sameFloat(p.Min[m], lo) || !sameFloat(p.Max[m], hi) {
						t.Fatalf("bucket %v %s = avg %v min %v max %v, want %v %v %v",
							p.TS, vibemon.Metric(m), p.Avg[m], p.Min[m], p.Max[m], avg, lo, hi)
					}
				}
			}
			// A metric subset returns the same numbers.
			sub := query(t, s, a.org.ID, vibemon.ReadingQuery{DeviceID: a.device.ID, From: from, To: to, Bucket: bucket,
				Metrics: []vibemon.Metric{vibemon.VelRMSX}})
			for i, p := range sub {
				if len(p.Avg) != 1 || !closeFloat(p.Avg[0], pts[i].Avg[vibemon.VelRMSX]) || p.Max[0] != pts[i].Max[vibemon.VelRMSX] {
					t.Fatalf("subset bucket %d = %v, want vel_rms_x of the full query", i, p.Avg)
				}
			}
		})
	}
	// Raw over the same random data: exactly the readings in range.
	qfrom, qto := start.Add(30*time.Hour+17*time.Second), start.Add(31*time.Hour)
	want := 0
	for _, r := range all {
		if !r.TS.Before(qfrom) && r.TS.Before(qto) {
			want++
		}
	}
	pts := query(t, s, a.org.ID, vibemon.ReadingQuery{DeviceID: a.device.ID, From: qfrom, To: qto, Bucket: vibemon.BucketRaw})
	if len(pts) != want {
		t.Errorf("raw points in a 1h window of random data = %d, want %d", len(pts), want)
	}
}

// rand is a small deterministic generator, so that a failure reproduces.
type rand struct{ x uint64 }

func newRand(seed uint64) *rand { return &rand{seed*2654435761 + 1} }

func (r *rand) next() uint64 {
	r.x ^= r.x << 13
	r.x ^= r.x >> 7
	r.x ^= r.x << 17
	return r.x
}

func (r *rand) intn(n int) int { return int(r.next() % uint64(n)) }
func (r *rand) float() float64 { return float64(r.next()>>11) / (1 << 53) }

func newRule(t *testing.T, s vibemon.Store, tn *tenant) *vibemon.Rule {
	t.Helper()
	r := &vibemon.Rule{OrgID: tn.org.ID, Name: "velocity zone C", Metric: "vel_rms_x", Op: vibemon.OpAbove,
		Threshold: 7.1, Clear: 6.5, Severity: vibemon.SeverityWarning, Enabled: true}
	must(t, s.CreateRule(ctx(t), r))
	return r
}

func testRules(t *testing.T, s vibemon.Store) {
	a := newTenant(t, s, "a")
	b := newTenant(t, s, "b")
	r := newRule(t, s, a)
	if r.ID == 0 || r.CreatedAt.IsZero() {
		t.Fatalf("CreateRule left ID/CreatedAt unset: %+v", r)
	}
	got, err := s.GetRule(ctx(t), a.org.ID, r.ID)
	must(t, err)
	if !reflect.DeepEqual(got, r) {
		t.Errorf("GetRule = %+v, want %+v", got, r)
	}
	r.Threshold, r.Clear, r.Enabled, r.DeviceID = 11, 10, false, a.device.ID
	must(t, s.UpdateRule(ctx(t), r))
	got, err = s.GetRule(ctx(t), a.org.ID, r.ID)
	must(t, err)
	if got.Threshold != 11 || got.Clear != 10 || got.Enabled || got.DeviceID != a.device.ID {
		t.Errorf("after UpdateRule = %+v", got)
	}
	bad := *r
	bad.Metric = "speed"
	wantCode(t, s.UpdateRule(ctx(t), &bad), vibemon.EINVALID)
	foreign := &vibemon.Rule{OrgID: a.org.ID, Name: "x", Metric: "temp_c", Op: vibemon.OpAbove, Threshold: 80, Clear: math.NaN(),
		Severity: vibemon.SeverityInfo, DeviceID: b.device.ID}
	wantCode(t, s.CreateRule(ctx(t), foreign), vibemon.EINVALID)
	foreign.DeviceID, foreign.AssetID = 0, b.asset.ID
	wantCode(t, s.CreateRule(ctx(t), foreign), vibemon.EINVALID)

	// Tenancy.
	_, err = s.GetRule(ctx(t), b.org.ID, r.ID)
	wantCode(t, err, vibemon.ENOTFOUND)
	hijack := *r
	hijack.OrgID, hijack.DeviceID = b.org.ID, 0
	wantCode(t, s.UpdateRule(ctx(t), &hijack), vibemon.ENOTFOUND)
	wantCode(t, s.DeleteRule(ctx(t), b.org.ID, r.ID), vibemon.ENOTFOUND)
	list, err := s.ListRules(ctx(t), b.org.ID)
	must(t, err)
	if len(list) != 0 {
		t.Errorf("ListRules(b) = %d rules, want 0", len(list))
	}
	list, err = s.ListRules(ctx(t), a.org.ID)
	must(t, err)
	if len(list) != 1 {
		t.Errorf("ListRules(a) = %d rules, want 1", len(list))
	}
	must(t, s.DeleteRule(ctx(t), a.org.ID, r.ID))
	_, err = s.GetRule(ctx(t), a.org.ID, r.ID)
	wantCode(t, err, vibemon.ENOTFOUND)
}

func newAlert(tn *tenant, rule *vibemon.Rule, value float64, at time.Time) *vibemon.Alert {
	return &vibemon.Alert{OrgID: tn.org.ID, RuleID: rule.ID, DeviceID: tn.device.ID, Severity: rule.Severity,
		Metric: rule.Metric, Value: value, Threshold: rule.Threshold, Message: fmt.Sprintf("vel_rms_x %.1f mm/s", value), UpdatedAt: at}
}

func testAlertLifecycle(t *testing.T, s vibemon.Store) {
	a := newTenant(t, s, "a")
	rule := newRule(t, s, a)
	first := newAlert(a, rule, 8, base)
	opened, err := s.UpsertAlert(ctx(t), first)
	must(t, err)
	if !opened || first.ID == 0 || first.Status != vibemon.AlertOpen || first.Peak != 8 || first.AssetID != a.asset.ID ||
		!first.OpenedAt.Equal(base) {
		t.Fatalf("first UpsertAlert = opened %v %+v, want a new open alert with peak 8 on asset %d", opened, first, a.asset.ID)
	}
	// Repeated triggers update the same alert: value is the latest, peak the worst.
	steps := []struct {
		value, wantPeak float64
	}{{9.5, 9.5}, {7.5, 9.5}}
	for i, st := range steps {
		at := base.Add(time.Duration(i+1) * time.Minute)
		al := newAlert(a, rule, st.value, at)
		opened, err = s.UpsertAlert(ctx(t), al)
		must(t, err)
		if opened || al.ID != first.ID || al.Value != st.value || al.Peak != st.wantPeak || !al.UpdatedAt.Equal(at) || !al.OpenedAt.Equal(base) {
			t.Errorf("UpsertAlert(%v) = opened %v id %d value %v peak %v updated %v, want same alert %d value %v peak %v updated %v",
				st.value, opened, al.ID, al.Value, al.Peak, al.UpdatedAt, first.ID, st.value, st.wantPeak, at)
		}
	}
	u, err := s.UnresolvedAlert(ctx(t), a.org.ID, rule.ID, a.device.ID)
	must(t, err)
	if u.ID != first.ID {
		t.Errorf("UnresolvedAlert = %d, want %d", u.ID, first.ID)
	}

	ackAt := base.Add(10 * time.Minute)
	acked, err := s.AckAlert(ctx(t), a.org.ID, first.ID, a.user.ID, "on it", ackAt)
	must(t, err)
	if acked.Status != vibemon.AlertAcknowledged || acked.AckedBy != a.user.ID || acked.AckComment != "on it" ||
		acked.AckedAt == nil || !acked.AckedAt.Equal(ackAt) {
		t.Errorf("AckAlert = %+v", acked)
	}
	_, err = s.AckAlert(ctx(t), a.org.ID, first.ID, a.user.ID, "again", ackAt)
	wantCode(t, err, vibemon.ECONFLICT)

	// Still unresolved: a trigger updates the acknowledged alert.
	al := newAlert(a, rule, 12, base.Add(11*time.Minute))
	opened, err = s.UpsertAlert(ctx(t), al)
	must(t, err)
	if opened || al.ID != first.ID || al.Status != vibemon.AlertAcknowledged || al.Peak != 12 {
		t.Errorf("UpsertAlert on an acknowledged alert = opened %v %+v", opened, al)
	}

	resAt := base.Add(20 * time.Minute)
	res, err := s.ResolveAlert(ctx(t), a.org.ID, first.ID, 0, resAt)
	must(t, err)
	if res.Status != vibemon.AlertResolved || res.ResolvedAt == nil || !res.ResolvedAt.Equal(resAt) || res.ResolvedBy != 0 {
		t.Errorf("ResolveAlert = %+v", res)
	}
	_, err = s.ResolveAlert(ctx(t), a.org.ID, first.ID, a.user.ID, resAt)
	wantCode(t, err, vibemon.ECONFLICT)
	_, err = s.AckAlert(ctx(t), a.org.ID, first.ID, a.user.ID, "", resAt)
	wantCode(t, err, vibemon.ECONFLICT)
	_, err = s.UnresolvedAlert(ctx(t), a.org.ID, rule.ID, a.device.ID)
	wantCode(t, err, vibemon.ENOTFOUND)

	// After resolution the next trigger opens a new alert.
	next := newAlert(a, rule, 8, base.Add(time.Hour))
	opened, err = s.UpsertAlert(ctx(t), next)
	must(t, err)
	if !opened || next.ID == first.ID || next.Peak != 8 {
		t.Errorf("UpsertAlert after resolve = opened %v id %d peak %v, want a new alert with peak 8", opened, next.ID, next.Peak)
	}
	// An open alert can be resolved by a user directly.
	res, err = s.ResolveAlert(ctx(t), a.org.ID, next.ID, a.user.ID, base.Add(2*time.Hour))
	must(t, err)
	if res.ResolvedBy != a.user.ID {
		t.Errorf("ResolvedBy = %d, want %d", res.ResolvedBy, a.user.ID)
	}
	// Deleting the rule keeps its alerts for the record.
	must(t, s.DeleteRule(ctx(t), a.org.ID, rule.ID))
	if _, err := s.GetAlert(ctx(t), a.org.ID, first.ID); err != nil {
		t.Errorf("alert after DeleteRule: %v", err)
	}
}

func testAlertList(t *testing.T, s vibemon.Store) {
	a := newTenant(t, s, "a")
	b := newTenant(t, s, "b")
	d2 := a.addDevice(t, s, "second")
	rule := newRule(t, s, a)
	var ids []int64
	for i, dev := range []int64{a.device.ID, d2.ID} {
		al := newAlert(a, rule, 8, base.Add(time.Duration(i)*time.Minute))
		al.DeviceID = dev
		_, err := s.UpsertAlert(ctx(t), al)
		must(t, err)
		ids = append(ids, al.ID)
	}
	_, err := s.ResolveAlert(ctx(t), a.org.ID, ids[0], 0, base.Add(time.Hour))
	must(t, err)
	_, err = s.AssignAlert(ctx(t), a.org.ID, ids[1], a.user.ID, a.user.ID, base.Add(2*time.Hour))
	must(t, err)

	tests := []struct {
		name string
		f    vibemon.AlertFilter
		want []int64
	}{
		{"all, newest first", vibemon.AlertFilter{}, []int64{ids[1], ids[0]}},
		{"open", vibemon.AlertFilter{Status: vibemon.AlertOpen}, []int64{ids[1]}},
		{"resolved", vibemon.AlertFilter{Status: vibemon.AlertResolved}, []int64{ids[0]}},
		{"by device", vibemon.AlertFilter{DeviceID: a.device.ID}, []int64{ids[0]}},
		{"by asset", vibemon.AlertFilter{AssetID: a.asset.ID}, []int64{ids[0]}},
		{"limit", vibemon.AlertFilter{Limit: 1}, []int64{ids[1]}},
		{"assigned to a user", vibemon.AlertFilter{AssigneeID: a.user.ID}, []int64{ids[1]}},
		{"assigned to nobody", vibemon.AlertFilter{Unassigned: true}, []int64{ids[0]}},
		{"assigned to another user", vibemon.AlertFilter{AssigneeID: a.user.ID + 1000}, nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			list, err := s.ListAlerts(ctx(t), a.org.ID, tc.f)
			must(t, err)
			var got []int64
			for _, al := range list {
				got = append(got, al.ID)
			}
			if fmt.Sprint(got) != fmt.Sprint(tc.want) {
				t.Errorf("ListAlerts(%+v) = %v, want %v", tc.f, got, tc.want)
			}
		})
	}
	_, err = s.ListAlerts(ctx(t), a.org.ID, vibemon.AlertFilter{Status: "closed"})
	wantCode(t, err, vibemon.EINVALID)
	_, err = s.ListAlerts(ctx(t), a.org.ID, vibemon.AlertFilter{AssigneeID: a.user.ID, Unassigned: true})
	wantCode(t, err, vibemon.EINVALID)

	// Org b sees none of it and can change none of it.
	list, err := s.ListAlerts(ctx(t), b.org.ID, vibemon.AlertFilter{})
	must(t, err)
	if len(list) != 0 {
		t.Errorf("ListAlerts(b) = %d alerts, want 0", len(list))
	}
	_, err = s.GetAlert(ctx(t), b.org.ID, ids[1])
	wantCode(t, err, vibemon.ENOTFOUND)
	_, err = s.UnresolvedAlert(ctx(t), b.org.ID, rule.ID, d2.ID)
	wantCode(t, err, vibemon.ENOTFOUND)
	_, err = s.AckAlert(ctx(t), b.org.ID, ids[1], b.user.ID, "", base)
	wantCode(t, err, vibemon.ENOTFOUND)
	_, err = s.ResolveAlert(ctx(t), b.org.ID, ids[1], b.user.ID, base)
	wantCode(t, err, vibemon.ENOTFOUND)
	// Org b cannot open an alert on org a's device or rule.
	foreign := newAlert(b, rule, 9, base)
	_, err = s.UpsertAlert(ctx(t), foreign)
	wantCode(t, err, vibemon.EINVALID)
	brule := newRule(t, s, b)
	foreign = newAlert(b, brule, 9, base)
	foreign.DeviceID = a.device.ID
	_, err = s.UpsertAlert(ctx(t), foreign)
	wantCode(t, err, vibemon.EINVALID)
	got, err := s.GetAlert(ctx(t), a.org.ID, ids[1])
	must(t, err)
	if got.Status != vibemon.AlertOpen || got.Value != 8 {
		t.Errorf("org a's alert changed: %+v", got)
	}
}

func testAlertConcurrent(t *testing.T, s vibemon.Store) {
	a := newTenant(t, s, "a")
	rule := newRule(t, s, a)
	const n = 10
	type result struct {
		opened bool
		id     int64
		err    error
	}
	results := make(chan result, n)
	for i := 0; i < n; i++ {
		go func() {
			al := newAlert(a, rule, 8+float64(i), base.Add(time.Duration(i)*time.Second))
			opened, err := s.UpsertAlert(context.Background(), al)
			results <- result{opened, al.ID, err}
		}()
	}
	openedCount := 0
	ids := map[int64]bool{}
	for i := 0; i < n; i++ {
		r := <-results
		if r.err != nil {
			t.Fatalf("concurrent UpsertAlert: %v", r.err)
		}
		if r.opened {
			openedCount++
		}
		ids[r.id] = true
	}
	if openedCount != 1 || len(ids) != 1 {
		t.Errorf("concurrent upserts opened %d alerts with %d ids, want 1 and 1", openedCount, len(ids))
	}
	al, err := s.UnresolvedAlert(ctx(t), a.org.ID, rule.ID, a.device.ID)
	must(t, err)
	if al.Peak != 8+n-1 {
		t.Errorf("peak after concurrent upserts = %v, want %v", al.Peak, 8+n-1)
	}
}

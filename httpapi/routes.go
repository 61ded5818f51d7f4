package httpapi

import (
	"net/http"

	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/vibemon/vibemon"
)

// route is one endpoint: a ServeMux pattern, who may call it, and its handler.
type route struct {
	pattern string
	public  bool           // no token needed
	act     vibemon.Action // what the caller's role must be able to do
	handler http.Handler
}

// routes is the whole HTTP surface but the mounted Live and Web handlers.
// Every pattern here must be described in openapi.json (a test checks).
func routes(s *server) []route {
	const v1 = "/api/v1"
	pub := func(pattern string, h http.Handler) route { return route{pattern: pattern, public: true, handler: h} }
	may := func(act vibemon.Action, pattern string, h http.Handler) route {
		return route{pattern: pattern, act: act, handler: h}
	}
	return []route{
		pub("GET /healthz", handleHealthz()),
		pub("GET /readyz", handleReadyz(s)),
		pub("GET /metrics", promhttp.HandlerFor(s.gatherer, promhttp.HandlerOpts{})),
		pub("GET "+v1+"/openapi.json", handleOpenAPI()),

		pub("POST "+v1+"/auth/login", handleLogin(s)),
		pub("POST "+v1+"/auth/refresh", handleRefresh(s)),
		may(vibemon.ActRead, "POST "+v1+"/auth/logout", handleLogout(s)),
		may(vibemon.ActRead, "GET "+v1+"/me", handleMe(s)),
		may(vibemon.ActRead, "GET "+v1+"/me/notifications", handleMyNotificationsGet(s)),
		may(vibemon.ActRead, "PUT "+v1+"/me/notifications", handleMyNotificationsPut(s)),
		may(vibemon.ActRead, "POST "+v1+"/me/telegram-link", handleTelegramLink(s)),
		pub("POST "+v1+"/telegram/webhook", handleTelegramWebhook(s)), // Telegram's own secret, no user token
		may(vibemon.ActRead, "POST "+v1+"/me/push-tokens", handlePushTokenAdd(s)),
		may(vibemon.ActRead, "DELETE "+v1+"/me/push-tokens", handlePushTokenDelete(s)),

		may(vibemon.ActManageUsers, "GET "+v1+"/webhooks", handleWebhookList(s)),
		may(vibemon.ActManageUsers, "POST "+v1+"/webhooks", handleWebhookCreate(s)),
		may(vibemon.ActManageUsers, "GET "+v1+"/webhooks/{id}", handleWebhookGet(s)),
		may(vibemon.ActManageUsers, "PATCH "+v1+"/webhooks/{id}", handleWebhookPatch(s)),
		may(vibemon.ActManageUsers, "DELETE "+v1+"/webhooks/{id}", handleWebhookDelete(s)),

		may(vibemon.ActRead, "GET "+v1+"/orgs/current", handleOrgGet(s)),
		may(vibemon.ActManageOrg, "PATCH "+v1+"/orgs/current", handleOrgPatch(s)),

		may(vibemon.ActRead, "GET "+v1+"/users", handleUserList(s)),
		may(vibemon.ActManageUsers, "POST "+v1+"/users", handleUserCreate(s)),
		may(vibemon.ActRead, "GET "+v1+"/users/{id}", handleUserGet(s)),
		may(vibemon.ActManageUsers, "PATCH "+v1+"/users/{id}", handleUserPatch(s)),
		may(vibemon.ActManageUsers, "DELETE "+v1+"/users/{id}", handleUserDelete(s)),

		may(vibemon.ActManageUsers, "GET "+v1+"/api-keys", handleAPIKeyList(s)),
		may(vibemon.ActManageUsers, "POST "+v1+"/api-keys", handleAPIKeyCreate(s)),
		may(vibemon.ActManageUsers, "DELETE "+v1+"/api-keys/{id}", handleAPIKeyRevoke(s)),

		may(vibemon.ActRead, "GET "+v1+"/assets", handleAssetList(s)),
		may(vibemon.ActManageAssets, "POST "+v1+"/assets", handleAssetCreate(s)),
		may(vibemon.ActRead, "GET "+v1+"/assets/{id}", handleAssetGet(s)),
		may(vibemon.ActManageAssets, "PATCH "+v1+"/assets/{id}", handleAssetPatch(s)),
		may(vibemon.ActManageAssets, "DELETE "+v1+"/assets/{id}", handleAssetDelete(s)),
		may(vibemon.ActRead, "GET "+v1+"/assets/{id}/devices", handleAssetDevices(s)),
		may(vibemon.ActRead, "GET "+v1+"/assets/{id}/maintenance", handleMaintenanceList(s)),
		may(vibemon.ActManageAssets, "POST "+v1+"/assets/{id}/maintenance", handleMaintenanceCreate(s)),
		may(vibemon.ActManageAssets, "DELETE "+v1+"/assets/{id}/maintenance/{mid}", handleMaintenanceDelete(s)),

		may(vibemon.ActRead, "GET "+v1+"/devices", handleDeviceList(s)),
		may(vibemon.ActManageAssets, "POST "+v1+"/devices", handleDeviceCreate(s)),
		may(vibemon.ActRead, "GET "+v1+"/devices/{id}", handleDeviceGet(s)),
		may(vibemon.ActManageAssets, "PATCH "+v1+"/devices/{id}", handleDevicePatch(s)),
		may(vibemon.ActManageAssets, "DELETE "+v1+"/devices/{id}", handleDeviceDelete(s)),
		may(vibemon.ActRead, "GET "+v1+"/devices/{id}/latest", handleDeviceLatest(s)),
		may(vibemon.ActRead, "GET "+v1+"/devices/{id}/telemetry", handleTelemetryQuery(s)),
		may(vibemon.ActRead, "GET "+v1+"/devices/{id}/completeness", handleCompleteness(s)),
		may(vibemon.ActIngest, "POST "+v1+"/devices/{id}/gaps", handleGapReport(s)),
		may(vibemon.ActRead, "GET "+v1+"/devices/{id}/settings", handleDeviceSettingsGet(s)),
		may(vibemon.ActManageAssets, "PUT "+v1+"/devices/{id}/settings", handleDeviceSettingsPut(s)),
		may(vibemon.ActRead, "GET "+v1+"/devices/{id}/ota-status", handleOTAStatusGet(s)),
		may(vibemon.ActIngest, "POST "+v1+"/devices/{id}/ota-status", handleOTAStatusPost(s)),
		may(vibemon.ActRead, "GET "+v1+"/firmware", handleFirmwareList(s)),
		may(vibemon.ActManageUsers, "POST "+v1+"/firmware", handleFirmwareUpload(s)),
		may(vibemon.ActRead, "GET "+v1+"/firmware/{id}", handleFirmwareGet(s)),
		may(vibemon.ActRead, "GET "+v1+"/firmware/{id}/image", handleFirmwareImage(s)),

		may(vibemon.ActIngest, "POST "+v1+"/telemetry", handleIngest(s)),

		may(vibemon.ActIngest, "POST "+v1+"/devices/{id}/waveforms", handleWaveformCreate(s)),
		may(vibemon.ActRead, "GET "+v1+"/devices/{id}/waveforms", handleWaveformList(s)),
		may(vibemon.ActRead, "GET "+v1+"/devices/{id}/waveforms/{wid}", handleWaveformGet(s)),
		may(vibemon.ActRead, "GET "+v1+"/devices/{id}/waveforms/{wid}/samples", handleWaveformSamples(s)),
		may(vibemon.ActRead, "GET "+v1+"/assets/{id}/health", handleAssetHealth(s)),
		may(vibemon.ActRead, "GET "+v1+"/reports/condition", handleConditionReport(s)),

		may(vibemon.ActRead, "GET "+v1+"/alert-rules", handleRuleList(s)),
		may(vibemon.ActManageAssets, "POST "+v1+"/alert-rules", handleRuleCreate(s)),
		may(vibemon.ActRead, "GET "+v1+"/alert-rules/{id}", handleRuleGet(s)),
		may(vibemon.ActManageAssets, "PATCH "+v1+"/alert-rules/{id}", handleRulePatch(s)),
		may(vibemon.ActManageAssets, "DELETE "+v1+"/alert-rules/{id}", handleRuleDelete(s)),

		may(vibemon.ActRead, "GET "+v1+"/alerts", handleAlertList(s)),
		may(vibemon.ActRead, "GET "+v1+"/alerts/{id}", handleAlertGet(s)),
		may(vibemon.ActAckAlerts, "POST "+v1+"/alerts/{id}/ack", handleAlertAck(s)),
		may(vibemon.ActAckAlerts, "POST "+v1+"/alerts/{id}/resolve", handleAlertResolve(s)),
		may(vibemon.ActRead, "GET "+v1+"/alerts/{id}/events", handleAlertEvents(s)),
		may(vibemon.ActAckAlerts, "POST "+v1+"/alerts/{id}/assign", handleAlertAssign(s)),
		may(vibemon.ActAckAlerts, "POST "+v1+"/alerts/{id}/comments", handleAlertComment(s)),
	}
}

// addRoutes registers every route on mux, plus Live at /ws/ and Web at /
// when they are set. Unknown paths under /api/v1/ answer a JSON 404.
func addRoutes(mux *http.ServeMux, s *server, live, web http.Handler) {
	for _, rt := range routes(s) {
		h := rt.handler
		if !rt.public {
			h = s.authenticate(rt.act, h)
		}
		mux.Handle(rt.pattern, h)
	}
	mux.Handle("/api/", handleNoRoute(s))
	if live != nil {
		mux.Handle("/ws/", live)
	}
	if web != nil {
		mux.Handle("/", web)
	}
}

package main

import (
	"bytes"
	"encoding/base64"
	"io"
	"maps"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"go.yaml.in/yaml/v3"

	"github.com/vibemon/vibemon/gateway"
	"github.com/vibemon/vibemon/gateway/blelink"
)

// k8sObject is the part of a Kubernetes manifest the deploy test reads.
type k8sObject struct {
	Kind     string `yaml:"kind"`
	Metadata struct {
		Name string `yaml:"name"`
	} `yaml:"metadata"`
	Data map[string]string `yaml:"data"`
	Spec struct {
		Replicas *int             `yaml:"replicas"`
		Selector map[string]any   `yaml:"selector"` // Deployment: matchLabels; Service: labels
		Ports    []k8sServicePort `yaml:"ports"`
		Rules    []k8sIngressRule `yaml:"rules"`
		Template struct {
			Metadata struct {
				Labels map[string]string `yaml:"labels"`
			} `yaml:"metadata"`
			Spec struct {
				Containers []k8sContainer `yaml:"containers"`
				Volumes    []struct {
					Name   string `yaml:"name"`
					Secret *struct {
						SecretName string `yaml:"secretName"`
					} `yaml:"secret"`
				} `yaml:"volumes"`
			} `yaml:"spec"`
		} `yaml:"template"`
	} `yaml:"spec"`
}

type k8sServicePort struct {
	Name       string `yaml:"name"`
	Port       int    `yaml:"port"`
	TargetPort string `yaml:"targetPort"`
}

type k8sIngressRule struct {
	HTTP struct {
		Paths []struct {
			Path    string `yaml:"path"`
			Backend struct {
				Service struct {
					Name string `yaml:"name"`
					Port struct {
						Name string `yaml:"name"`
					} `yaml:"port"`
				} `yaml:"service"`
			} `yaml:"backend"`
		} `yaml:"paths"`
	} `yaml:"http"`
}

type k8sProbe struct {
	HTTPGet struct {
		Path string `yaml:"path"`
		Port string `yaml:"port"`
	} `yaml:"httpGet"`
}

type k8sContainer struct {
	Args  []string `yaml:"args"`
	Ports []struct {
		Name          string `yaml:"name"`
		ContainerPort int    `yaml:"containerPort"`
	} `yaml:"ports"`
	EnvFrom []struct {
		ConfigMapRef *struct {
			Name string `yaml:"name"`
		} `yaml:"configMapRef"`
		SecretRef *struct {
			Name string `yaml:"name"`
		} `yaml:"secretRef"`
	} `yaml:"envFrom"`
	ReadinessProbe k8sProbe `yaml:"readinessProbe"`
	LivenessProbe  k8sProbe `yaml:"livenessProbe"`
	VolumeMounts   []struct {
		Name      string `yaml:"name"`
		MountPath string `yaml:"mountPath"`
	} `yaml:"volumeMounts"`
}

// loadManifests reads every document of deploy/k8s/*.yaml.
func loadManifests(t *testing.T) []k8sObject {
	t.Helper()
	files, err := filepath.Glob("../../deploy/k8s/*.yaml")
	if err != nil || len(files) == 0 {
		t.Fatalf("no manifests in deploy/k8s (%v)", err)
	}
	var objs []k8sObject
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		dec := yaml.NewDecoder(bytes.NewReader(b))
		for {
			var o k8sObject
			if err := dec.Decode(&o); err == io.EOF {
				break
			} else if err != nil {
				t.Fatalf("%s: %v", f, err)
			}
			objs = append(objs, o)
		}
	}
	return objs
}

// flagValue returns the value of --name in args (the last one wins, as in
// the flag package), or def.
func flagValue(args []string, name, def string) string {
	v := def
	for i, a := range args {
		if a == "--"+name && i+1 < len(args) {
			v = args[i+1]
		} else if strings.HasPrefix(a, "--"+name+"=") {
			v = strings.TrimPrefix(a, "--"+name+"=")
		}
	}
	return v
}

// TestDeployManifests: the Kubernetes manifests in deploy/k8s describe the
// design's deployment (API x3, WebSocket x2, workers x3, one image with
// different --roles) consistently, and each Deployment's command, run as
// the container would with its ConfigMap's settings and a cluster's
// PostgreSQL and Redis, starts, answers its liveness and readiness probes
// with 200, and exports the metrics deploy/prometheus/rules.yaml alerts on.
func TestDeployManifests(t *testing.T) {
	objs := loadManifests(t)
	byKind := map[string]map[string]k8sObject{}
	for _, o := range objs {
		if byKind[o.Kind] == nil {
			byKind[o.Kind] = map[string]k8sObject{}
		}
		byKind[o.Kind][o.Metadata.Name] = o
	}
	deps := byKind["Deployment"]
	want := map[string]struct {
		replicas int
		roles    string
	}{"vibemon-api": {3, "api,web"}, "vibemon-ws": {2, "ws"}, "vibemon-worker": {3, "worker"}}
	if got := slices.Sorted(maps.Keys(deps)); !slices.Equal(got, slices.Sorted(maps.Keys(want))) {
		t.Fatalf("Deployments %v, want %v", got, slices.Sorted(maps.Keys(want)))
	}
	config := map[string]string{}
	for name, d := range deps {
		w := want[name]
		if d.Spec.Replicas == nil || *d.Spec.Replicas != w.replicas {
			t.Errorf("%s: replicas %v, want %d", name, d.Spec.Replicas, w.replicas)
		}
		if len(d.Spec.Template.Spec.Containers) != 1 {
			t.Fatalf("%s: %d containers, want 1", name, len(d.Spec.Template.Spec.Containers))
		}
		c := d.Spec.Template.Spec.Containers[0]
		if len(c.Args) == 0 || c.Args[0] != "serve" || flagValue(c.Args, "roles", "") != w.roles {
			t.Errorf("%s: args %q, want serve --roles %s", name, c.Args, w.roles)
		}
		// The listen port is the container port the probes and Services use.
		_, port, err := net.SplitHostPort(flagValue(c.Args, "addr", ":8080"))
		if err != nil || len(c.Ports) != 1 || port != strconv.Itoa(c.Ports[0].ContainerPort) {
			t.Errorf("%s: --addr port %q, container ports %+v: they must agree", name, port, c.Ports)
		}
		for _, p := range []k8sProbe{c.ReadinessProbe, c.LivenessProbe} {
			if len(c.Ports) == 1 && p.HTTPGet.Port != c.Ports[0].Name {
				t.Errorf("%s: probe port %q is not the container's port %q", name, p.HTTPGet.Port, c.Ports[0].Name)
			}
		}
		// Settings: a ConfigMap of these manifests, and the Secret the
		// README tells admins to create.
		var secretEnv bool
		for _, e := range c.EnvFrom {
			switch {
			case e.ConfigMapRef != nil:
				cm, ok := byKind["ConfigMap"][e.ConfigMapRef.Name]
				if !ok {
					t.Errorf("%s: ConfigMap %q is not in deploy/k8s", name, e.ConfigMapRef.Name)
				}
				maps.Copy(config, cm.Data)
			case e.SecretRef != nil:
				secretEnv = e.SecretRef.Name == "vibemon-secrets"
			}
		}
		if !secretEnv {
			t.Errorf("%s: takes no settings from the vibemon-secrets Secret (database and Redis URLs)", name)
		}
		// Every replica needs the same token key: the Secret mounted as the
		// data dir.
		var keyMount string
		for _, m := range c.VolumeMounts {
			for _, v := range d.Spec.Template.Spec.Volumes {
				if v.Name == m.Name && v.Secret != nil && v.Secret.SecretName == "vibemon-token-key" {
					keyMount = m.MountPath
				}
			}
		}
		if keyMount == "" || keyMount != config["VIBEMON_DATA_DIR"] {
			t.Errorf("%s: the vibemon-token-key Secret is mounted at %q, the data dir is %q: they must be the same", name, keyMount, config["VIBEMON_DATA_DIR"])
		}
	}
	// Services select their Deployment's pods; the Ingress sends /ws to the
	// WebSocket replicas and the rest to the API and panel.
	serviceRoles := map[string]string{}
	for name, s := range byKind["Service"] {
		for dn, d := range deps {
			labels := d.Spec.Template.Metadata.Labels
			match := len(s.Spec.Selector) > 0
			for k, v := range s.Spec.Selector {
				if labels[k] != v {
					match = false
				}
			}
			if match {
				serviceRoles[name] = want[dn].roles
				if len(s.Spec.Ports) != 1 || s.Spec.Ports[0].TargetPort != d.Spec.Template.Spec.Containers[0].Ports[0].Name {
					t.Errorf("Service %s: ports %+v do not target %s's container port", name, s.Spec.Ports, dn)
				}
			}
		}
		if serviceRoles[name] == "" {
			t.Errorf("Service %s selects no Deployment's pods", name)
		}
	}
	routes := map[string]string{}
	for _, ing := range byKind["Ingress"] {
		for _, r := range ing.Spec.Rules {
			for _, p := range r.HTTP.Paths {
				routes[p.Path] = serviceRoles[p.Backend.Service.Name]
			}
		}
	}
	if !strings.Contains(routes["/ws"], "ws") || !strings.Contains(routes["/"], "api") || !strings.Contains(routes["/"], "web") {
		t.Errorf("Ingress routes to roles %v, want /ws to ws and / to api,web", routes)
	}
	if t.Failed() {
		return
	}

	// Run each Deployment's command as its container would.
	env, _ := clusterEnv(t)
	key := make([]byte, 32)
	for i := range key {
		key[i] = byte(i)
	}
	if err := os.WriteFile(filepath.Join(env["VIBEMON_DATA_DIR"], "secret.key"), []byte(base64.StdEncoding.EncodeToString(key)), 0o600); err != nil {
		t.Fatal(err)
	}
	exported := map[string]bool{}
	typeLine := regexp.MustCompile(`(?m)^# TYPE (\S+) `)
	for _, name := range []string{"vibemon-worker", "vibemon-api", "vibemon-ws"} { // the worker first: it owns the schema's jobs
		c := deps[name].Spec.Template.Spec.Containers[0]
		penv := maps.Clone(config)
		penv["VIBEMON_DATA_DIR"] = env["VIBEMON_DATA_DIR"] // the Secret's mount, here a temp dir with a key in it
		for _, k := range []string{"VIBEMON_DATABASE_URL", "VIBEMON_REDIS_URL", "VIBEMON_REDIS_PREFIX"} {
			penv[k] = env[k]
		}
		// The container's args, then a free loopback port: the flag package
		// takes the last --addr.
		p := startProgram(t, penv, append(slices.Clone(c.Args), "--addr", "127.0.0.1:0")...)
		for _, path := range []string{c.LivenessProbe.HTTPGet.Path, c.ReadinessProbe.HTTPGet.Path} {
			var status int
			for deadline := time.Now().Add(20 * time.Second); time.Now().Before(deadline); time.Sleep(50 * time.Millisecond) {
				resp, err := http.Get(p.URL + path)
				if err != nil {
					t.Fatalf("%s: GET %s: %v", name, path, err)
				}
				resp.Body.Close()
				if status = resp.StatusCode; status == http.StatusOK {
					break
				}
			}
			if status != http.StatusOK {
				t.Errorf("%s: probe GET %s answers %d, want 200\n%s", name, path, status, p.Stderr)
			}
		}
		resp, err := http.Get(p.URL + "/metrics")
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		for _, m := range typeLine.FindAllStringSubmatch(string(body), -1) {
			exported[m[1]] = true
		}
		p.Stop(t)
	}
	// The gateway's series, from a gateway as `vibemon gateway` builds one.
	q, err := gateway.OpenQueue(filepath.Join(t.TempDir(), "q.db"), gateway.QueueConfig{})
	if err != nil {
		t.Fatal(err)
	}
	defer q.Close()
	fleet, err := blelink.NewFleet(blelink.FleetConfig{})
	if err != nil {
		t.Fatal(err)
	}
	reg := prometheus.NewRegistry()
	if _, err := gateway.New(gateway.Config{Central: fleet, Queue: q, Server: "http://127.0.0.1:1", Token: "t", Registerer: reg}); err != nil {
		t.Fatal(err)
	}
	fams, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range fams {
		exported[f.GetName()] = true
	}

	// Every series the alerting rules use is one the binary exports.
	b, err := os.ReadFile("../../deploy/prometheus/rules.yaml")
	if err != nil {
		t.Fatal(err)
	}
	var rules struct {
		Groups []struct {
			Name  string `yaml:"name"`
			Rules []struct {
				Alert       string            `yaml:"alert"`
				Expr        string            `yaml:"expr"`
				Labels      map[string]string `yaml:"labels"`
				Annotations map[string]string `yaml:"annotations"`
			} `yaml:"rules"`
		} `yaml:"groups"`
	}
	if err := yaml.Unmarshal(b, &rules); err != nil {
		t.Fatalf("deploy/prometheus/rules.yaml: %v", err)
	}
	series := regexp.MustCompile(`vibemon_[a-z_]+`)
	n := 0
	for _, g := range rules.Groups {
		for _, r := range g.Rules {
			n++
			if r.Alert == "" || r.Labels["severity"] == "" || r.Annotations["summary"] == "" || r.Annotations["description"] == "" {
				t.Errorf("rule %+v: needs alert, labels.severity, annotations.summary and description", r)
			}
			names := series.FindAllString(r.Expr, -1)
			if len(names) == 0 {
				t.Errorf("rule %s uses no vibemon series", r.Alert)
			}
			for _, s := range names {
				if !exported[s] {
					t.Errorf("rule %s uses %s, which neither the server's roles nor the gateway export", r.Alert, s)
				}
			}
		}
	}
	if n == 0 {
		t.Error("deploy/prometheus/rules.yaml has no rules")
	}
}

package deploy

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	routev1 "github.com/openshift/api/route/v1"
	appsv1 "k8s.io/api/apps/v1"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	policyv1 "k8s.io/api/policy/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	utilyaml "k8s.io/apimachinery/pkg/util/yaml"
	kjson "sigs.k8s.io/json"
	"sigs.k8s.io/kustomize/api/krusty"
	kusttypes "sigs.k8s.io/kustomize/api/types"
	"sigs.k8s.io/kustomize/kyaml/filesys"
	"sigs.k8s.io/yaml"
)

// object is one decoded manifest: its kind and the typed value.
type object struct {
	apiVersion, kind, name string
	value                  any
}

// newObject returns a pointer to the k8s.io/api type for apiVersion and
// kind; unknown kinds are an error, so a manifest of a kind nobody checks
// cannot slip in.
func newObject(apiVersion, kind string) (any, error) {
	switch apiVersion + " " + kind {
	case "v1 Service":
		return &corev1.Service{}, nil
	case "v1 Secret":
		return &corev1.Secret{}, nil
	case "v1 ConfigMap":
		return &corev1.ConfigMap{}, nil
	case "v1 PersistentVolumeClaim":
		return &corev1.PersistentVolumeClaim{}, nil
	case "apps/v1 Deployment":
		return &appsv1.Deployment{}, nil
	case "apps/v1 StatefulSet":
		return &appsv1.StatefulSet{}, nil
	case "batch/v1 Job":
		return &batchv1.Job{}, nil
	case "policy/v1 PodDisruptionBudget":
		return &policyv1.PodDisruptionBudget{}, nil
	case "networking.k8s.io/v1 Ingress":
		return &networkingv1.Ingress{}, nil
	case "route.openshift.io/v1 Route":
		return &routev1.Route{}, nil
	case "kustomize.config.k8s.io/v1beta1 Kustomization":
		return &kusttypes.Kustomization{}, nil
	}
	return nil, fmt.Errorf("unknown apiVersion %q kind %q", apiVersion, kind)
}

// decodeStrict decodes every YAML document of data into its typed object,
// refusing duplicate keys and unknown or miscased fields.
func decodeStrict(data []byte) ([]object, error) {
	var objs []object
	r := utilyaml.NewYAMLReader(bufio.NewReader(bytes.NewReader(data)))
	for i := 1; ; i++ {
		doc, err := r.Read()
		if errors.Is(err, io.EOF) {
			return objs, nil
		}
		if err != nil {
			return nil, fmt.Errorf("document %d: %w", i, err)
		}
		if len(bytes.TrimSpace(stripComments(doc))) == 0 {
			continue
		}
		js, err := yaml.YAMLToJSONStrict(doc)
		if err != nil {
			return nil, fmt.Errorf("document %d: %w", i, err)
		}
		var tm metav1.TypeMeta
		var meta struct {
			Metadata struct {
				Name string `json:"name"`
			} `json:"metadata"`
		}
		if err := json.Unmarshal(js, &tm); err != nil {
			return nil, fmt.Errorf("document %d: %w", i, err)
		}
		_ = json.Unmarshal(js, &meta)
		v, err := newObject(tm.APIVersion, tm.Kind)
		if err != nil {
			return nil, fmt.Errorf("document %d: %w", i, err)
		}
		// sigs.k8s.io/json, the API server's own decoder: unlike
		// encoding/json it matches field names case-sensitively, so
		// "livenessprobe" is an unknown field, not livenessProbe.
		strictErrs, err := kjson.UnmarshalStrict(js, v)
		if err == nil {
			err = errors.Join(strictErrs...)
		}
		if err != nil {
			return nil, fmt.Errorf("document %d (%s %s): %w", i, tm.Kind, meta.Metadata.Name, err)
		}
		objs = append(objs, object{tm.APIVersion, tm.Kind, meta.Metadata.Name, v})
	}
}

// stripComments drops YAML comment lines, so a document of comments only
// counts as empty.
func stripComments(doc []byte) []byte {
	var out []byte
	for line := range bytes.Lines(doc) {
		if t := bytes.TrimSpace(line); len(t) > 0 && t[0] != '#' {
			out = append(out, line...)
		}
	}
	return out
}

// TestManifestsDecodeStrictly decodes every YAML file under kubernetes/
// into the k8s.io/api (or openshift/api, or kustomize) type its apiVersion
// and kind name.
func TestManifestsDecodeStrictly(t *testing.T) {
	var files []string
	err := filepath.WalkDir("kubernetes", func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if ext := filepath.Ext(path); !d.IsDir() && (ext == ".yaml" || ext == ".yml") {
			files = append(files, path)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(files) < 8 {
		t.Fatalf("found only %d YAML files under kubernetes/: %v", len(files), files)
	}
	for _, path := range files {
		t.Run(path, func(t *testing.T) {
			data, err := os.ReadFile(path)
			if err != nil {
				t.Fatal(err)
			}
			objs, err := decodeStrict(data)
			if err != nil {
				t.Fatal(err)
			}
			if len(objs) == 0 {
				t.Fatal("no object")
			}
		})
	}
}

// TestDecodeStrictRefuses proves the decoder is strict: each bad manifest
// must fail.
func TestDecodeStrictRefuses(t *testing.T) {
	for _, tc := range []struct{ name, yaml string }{
		{"unknown field", "apiVersion: v1\nkind: Service\nmetadata: {name: a}\nspec: {selectr: {a: b}}\n"},
		{"misplaced field", "apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: a}\nspec: {template: {spec: {containers: [{name: a, image: b, livenessprobe: {}}]}}}\n"},
		{"unknown kind", "apiVersion: v1\nkind: Pod\nmetadata: {name: a}\n"},
		{"unknown route field", "apiVersion: route.openshift.io/v1\nkind: Route\nmetadata: {name: a}\nspec: {to: {kind: Service, name: a}, tls: {terminaton: edge}}\n"},
		{"duplicate key", "apiVersion: v1\nkind: Service\nmetadata: {name: a}\nmetadata: {name: b}\n"},
		{"wrong type", "apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: a}\nspec: {replicas: three}\n"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if _, err := decodeStrict([]byte(tc.yaml)); err == nil {
				t.Fatal("decoded")
			}
		})
	}
}

// build runs kustomize on an overlay and decodes its output strictly.
func build(t *testing.T, dir string) []object {
	t.Helper()
	k := krusty.MakeKustomizer(krusty.MakeDefaultOptions())
	rm, err := k.Run(filesys.MakeFsOnDisk(), dir)
	if err != nil {
		t.Fatalf("kustomize build %s: %v", dir, err)
	}
	out, err := rm.AsYaml()
	if err != nil {
		t.Fatal(err)
	}
	objs, err := decodeStrict(out)
	if err != nil {
		t.Fatalf("kustomize build %s output: %v", dir, err)
	}
	return objs
}

// TestOverlaysBuild builds every overlay with kustomize and checks what the
// cluster would get: probes and the restricted security context on every
// workload, Services whose named ports exist, routes and ingresses that
// reach a Service, and only the Secrets and ConfigMaps that
// secrets.example.yaml documents.
func TestOverlaysBuild(t *testing.T) {
	documented := documentedRefs(t)
	overlays, err := filepath.Glob("kubernetes/overlays/*")
	if err != nil || len(overlays) < 2 {
		t.Fatalf("overlays: %v %v", overlays, err)
	}
	for _, dir := range overlays {
		t.Run(filepath.Base(dir), func(t *testing.T) {
			objs := build(t, dir)
			for _, p := range problems(objs, documented, filepath.Base(dir)) {
				t.Error(p)
			}
		})
	}
}

// documentedRefs reads secrets.example.yaml: "Secret/name/key" and
// "ConfigMap/name/key" for each key it lists.
func documentedRefs(t *testing.T) map[string]bool {
	t.Helper()
	data, err := os.ReadFile("kubernetes/secrets.example.yaml")
	if err != nil {
		t.Fatal(err)
	}
	objs, err := decodeStrict(data)
	if err != nil {
		t.Fatal(err)
	}
	refs := map[string]bool{}
	for _, o := range objs {
		switch v := o.value.(type) {
		case *corev1.Secret:
			for k := range v.StringData {
				refs["Secret/"+v.Name+"/"+k] = true
			}
			refs["Secret/"+v.Name] = true
		case *corev1.ConfigMap:
			for k := range v.Data {
				refs["ConfigMap/"+v.Name+"/"+k] = true
			}
			refs["ConfigMap/"+v.Name] = true
		}
	}
	return refs
}

// workload is a Deployment's, a StatefulSet's or a Job's pod template.
type workload struct {
	kind, name string
	replicas   int32
	pod        corev1.PodTemplateSpec
	claims     []string // a StatefulSet's volumeClaimTemplates
}

// serves says whether the workload's containers serve (and so need
// probes): a Job's run to completion.
func (w workload) serves() bool { return w.kind != "Job" }

// problems lists what is wrong with one overlay's built objects.
func problems(objs []object, documented map[string]bool, overlay string) []string {
	var out []string
	bad := func(format string, args ...any) { out = append(out, fmt.Sprintf(format, args...)) }
	var workloads []workload
	services := map[string]*corev1.Service{}
	var routes, ingresses int
	for _, o := range objs {
		switch v := o.value.(type) {
		case *appsv1.Deployment:
			workloads = append(workloads, workload{"Deployment", v.Name, ptrOr(v.Spec.Replicas, 1), v.Spec.Template, nil})
		case *appsv1.StatefulSet:
			var claims []string
			for _, c := range v.Spec.VolumeClaimTemplates {
				claims = append(claims, c.Name)
			}
			workloads = append(workloads, workload{"StatefulSet", v.Name, ptrOr(v.Spec.Replicas, 1), v.Spec.Template, claims})
		case *batchv1.Job:
			workloads = append(workloads, workload{"Job", v.Name, 1, v.Spec.Template, nil})
		case *corev1.Service:
			services[v.Name] = v
		case *corev1.Secret, *corev1.ConfigMap:
			bad("%s %s is generated by the kustomization: secrets and configuration are the operator's (secrets.example.yaml)", o.kind, o.name)
		}
	}
	for _, o := range objs {
		switch v := o.value.(type) {
		case *routev1.Route:
			routes++
			if v.Spec.TLS == nil || v.Spec.TLS.Termination != routev1.TLSTerminationEdge {
				bad("Route %s: want edge TLS", v.Name)
			}
			checkBackend(services, "Route "+v.Name, v.Spec.To.Name, v.Spec.Port.TargetPort.String(), bad)
		case *networkingv1.Ingress:
			ingresses++
			if len(v.Spec.TLS) == 0 {
				bad("Ingress %s: no TLS", v.Name)
			}
			for _, tls := range v.Spec.TLS {
				if !documented["Secret/"+tls.SecretName] {
					bad("Ingress %s: TLS Secret %s is not in secrets.example.yaml", v.Name, tls.SecretName)
				}
			}
			for _, r := range v.Spec.Rules {
				for _, p := range r.HTTP.Paths {
					checkBackend(services, "Ingress "+v.Name, p.Backend.Service.Name, p.Backend.Service.Port.Name, bad)
				}
			}
		}
	}
	switch overlay {
	case "openshift":
		if routes < 2 || ingresses != 0 {
			bad("openshift: %d Routes and %d Ingresses, want 2 Routes and none", routes, ingresses)
		}
	case "kubernetes":
		if ingresses != 1 || routes != 0 {
			bad("kubernetes: %d Ingresses and %d Routes, want 1 Ingress and none", ingresses, routes)
		}
	default:
		bad("unknown overlay %s: add its expectations to the test", overlay)
	}
	var runtime *workload
	for i, w := range workloads {
		where := w.kind + " " + w.name
		if w.name == "websonic" && w.kind == "Deployment" {
			runtime = &workloads[i]
		}
		ps := w.pod.Spec.SecurityContext
		if ps == nil || ps.RunAsNonRoot == nil || !*ps.RunAsNonRoot {
			bad("%s: pod runAsNonRoot is not true", where)
		}
		if ps == nil || ps.SeccompProfile == nil || ps.SeccompProfile.Type != corev1.SeccompProfileTypeRuntimeDefault {
			bad("%s: pod seccompProfile is not RuntimeDefault", where)
		}
		if overlay == "openshift" && ps != nil && (ps.RunAsUser != nil || ps.RunAsGroup != nil || ps.FSGroup != nil) {
			bad("%s: fixed runAsUser/runAsGroup/fsGroup: OpenShift picks them", where)
		}
		volumes := map[string]corev1.Volume{}
		for _, c := range w.claims {
			volumes[c] = corev1.Volume{Name: c}
		}
		for _, v := range w.pod.Spec.Volumes {
			volumes[v.Name] = v
			switch {
			case v.Secret != nil && !documented["Secret/"+v.Secret.SecretName]:
				bad("%s: volume %s reads Secret %s, not in secrets.example.yaml", where, v.Name, v.Secret.SecretName)
			case v.ConfigMap != nil && !documented["ConfigMap/"+v.ConfigMap.Name]:
				bad("%s: volume %s reads ConfigMap %s, not in secrets.example.yaml", where, v.Name, v.ConfigMap.Name)
			}
		}
		if len(w.pod.Spec.Containers) == 0 {
			bad("%s: no container", where)
		}
		for _, c := range w.pod.Spec.Containers {
			where := where + " container " + c.Name
			if w.serves() && (c.LivenessProbe == nil || c.ReadinessProbe == nil) {
				bad("%s: want both a liveness and a readiness probe", where)
			}
			if c.Resources.Requests.Memory().IsZero() || c.Resources.Limits.Memory().IsZero() {
				bad("%s: want memory requests and limits", where)
			}
			sc := c.SecurityContext
			switch {
			case sc == nil:
				bad("%s: no securityContext", where)
			default:
				if sc.AllowPrivilegeEscalation == nil || *sc.AllowPrivilegeEscalation {
					bad("%s: allowPrivilegeEscalation is not false", where)
				}
				if sc.ReadOnlyRootFilesystem == nil || !*sc.ReadOnlyRootFilesystem {
					bad("%s: readOnlyRootFilesystem is not true", where)
				}
				if sc.RunAsNonRoot == nil || !*sc.RunAsNonRoot {
					bad("%s: runAsNonRoot is not true", where)
				}
				if sc.Capabilities == nil || !slices.Equal(sc.Capabilities.Drop, []corev1.Capability{"ALL"}) || len(sc.Capabilities.Add) > 0 {
					bad("%s: capabilities must drop ALL and add none", where)
				}
				if sc.SeccompProfile == nil || sc.SeccompProfile.Type != corev1.SeccompProfileTypeRuntimeDefault {
					bad("%s: seccompProfile is not RuntimeDefault", where)
				}
				if overlay == "openshift" && (sc.RunAsUser != nil || sc.RunAsGroup != nil) {
					bad("%s: fixed runAsUser: OpenShift picks it", where)
				}
				if sc.Privileged != nil && *sc.Privileged {
					bad("%s: privileged", where)
				}
			}
			mounted := map[string]bool{}
			for _, m := range c.VolumeMounts {
				if _, ok := volumes[m.Name]; !ok {
					bad("%s: mounts unknown volume %s", where, m.Name)
				}
				mounted[m.MountPath] = true
			}
			if !mounted["/tmp"] {
				bad("%s: /tmp is not a volume (the root filesystem is read-only)", where)
			}
			for _, e := range c.Env {
				if e.ValueFrom == nil {
					continue
				}
				if r := e.ValueFrom.SecretKeyRef; r != nil && !documented["Secret/"+r.Name+"/"+r.Key] {
					bad("%s: env %s reads Secret %s key %s, not in secrets.example.yaml", where, e.Name, r.Name, r.Key)
				}
				if r := e.ValueFrom.ConfigMapKeyRef; r != nil && !documented["ConfigMap/"+r.Name+"/"+r.Key] {
					bad("%s: env %s reads ConfigMap %s key %s, not in secrets.example.yaml", where, e.Name, r.Name, r.Key)
				}
			}
		}
		for _, s := range services {
			if !selects(s.Spec.Selector, w.pod.Labels) {
				continue
			}
			for _, p := range s.Spec.Ports {
				if p.TargetPort.StrVal != "" && !hasPort(w.pod.Spec.Containers, p.TargetPort.StrVal) {
					bad("Service %s: targetPort %s is not a port of %s", s.Name, p.TargetPort.StrVal, where)
				}
			}
		}
	}
	if runtime == nil {
		bad("no runtime Deployment websonic")
		return out
	}
	if runtime.replicas != 3 {
		bad("runtime: %d replicas, want 3", runtime.replicas)
	}
	c := runtime.pod.Spec.Containers[0]
	if !strings.HasPrefix(c.Image, "registry.example/runtime/websonic:") {
		bad("runtime: image %s", c.Image)
	}
	probe := func(name string, p *corev1.Probe, path string) {
		if p == nil || p.HTTPGet == nil || p.HTTPGet.Path != path || (p.HTTPGet.Port.IntVal != 8080 && !hasPortNumber(c, p.HTTPGet.Port.StrVal, 8080)) {
			bad("runtime: %s probe is not GET %s on port 8080", name, path)
		}
	}
	probe("liveness", c.LivenessProbe, "/healthz")
	probe("readiness", c.ReadinessProbe, "/readyz")
	env := map[string]corev1.EnvVar{}
	for _, e := range c.Env {
		env[e.Name] = e
	}
	if e := env["WEBSONIC_DATABASE_URL"]; e.ValueFrom == nil || e.ValueFrom.SecretKeyRef == nil {
		bad("runtime: WEBSONIC_DATABASE_URL does not come from a Secret")
	}
	if env["WEBSONIC_ADDR"].Value != ":8080" {
		bad("runtime: WEBSONIC_ADDR is %q, want :8080", env["WEBSONIC_ADDR"].Value)
	}
	// The runtime's role is never PostgreSQL's superuser: the runtime does
	// not read the superuser's password, and the Job that makes its role
	// makes it CREATEROLE and NOSUPERUSER.
	for _, e := range c.Env {
		if r := e.ValueFrom; r != nil && r.SecretKeyRef != nil && r.SecretKeyRef.Name == "websonic-postgres" && r.SecretKeyRef.Key == "password" {
			bad("runtime: env %s reads PostgreSQL's superuser password", e.Name)
		}
	}
	var setup *workload
	for i := range workloads {
		if workloads[i].kind == "Job" && workloads[i].name == "websonic-database" {
			setup = &workloads[i]
		}
	}
	if setup == nil {
		bad("no Job websonic-database making the runtime's role")
	} else if script := strings.Join(setup.pod.Spec.Containers[0].Args, "\n"); !strings.Contains(script, "ALTER ROLE websonic LOGIN NOSUPERUSER CREATEROLE") ||
		!strings.Contains(script, "REVOKE CREATE ON SCHEMA public FROM PUBLIC") {
		bad("Job websonic-database: the role is not made LOGIN NOSUPERUSER CREATEROLE with the DBA's bounds")
	}
	for _, w := range workloads {
		if w.kind == "StatefulSet" && w.name == "websonic-postgres" {
			for _, e := range w.pod.Spec.Containers[0].Env {
				if e.Name == "POSTGRES_USER" && e.Value != "postgres" {
					bad("PostgreSQL: POSTGRES_USER %s is made a superuser", e.Value)
				}
			}
		}
	}
	return out
}

func checkBackend(services map[string]*corev1.Service, where, service, port string, bad func(string, ...any)) {
	s, ok := services[service]
	if !ok {
		bad("%s: no Service %s", where, service)
		return
	}
	for _, p := range s.Spec.Ports {
		if p.Name == port || fmt.Sprint(p.Port) == port {
			return
		}
	}
	bad("%s: Service %s has no port %s", where, service, port)
}

func selects(selector, labels map[string]string) bool {
	if len(selector) == 0 {
		return false
	}
	for k, v := range selector {
		if labels[k] != v {
			return false
		}
	}
	return true
}

func hasPort(cs []corev1.Container, name string) bool {
	for _, c := range cs {
		for _, p := range c.Ports {
			if p.Name == name {
				return true
			}
		}
	}
	return false
}

func hasPortNumber(c corev1.Container, name string, number int32) bool {
	for _, p := range c.Ports {
		if p.Name == name && p.ContainerPort == number {
			return true
		}
	}
	return false
}

func ptrOr(p *int32, def int32) int32 {
	if p == nil {
		return def
	}
	return *p
}

// TestManifestEnvKnown: every WEBSONIC_ variable a container sets is one
// its command documents (`websonic serve -h`, `websonic registry serve
// -h`): a misspelt name would be ignored silently.
func TestManifestEnvKnown(t *testing.T) {
	bin := buildWebsonic(t)
	help := map[string]string{}
	for _, cmd := range [][]string{{"serve"}, {"registry", "serve"}} {
		out, _ := exec.Command(bin, append(cmd, "-h")...).CombinedOutput()
		if !strings.Contains(string(out), "WEBSONIC_") {
			t.Fatalf("websonic %v -h: %s", cmd, out)
		}
		help[strings.Join(cmd, " ")] = string(out)
	}
	for _, overlay := range []string{"kubernetes/overlays/openshift", "kubernetes/overlays/kubernetes"} {
		for _, o := range build(t, overlay) {
			d, ok := o.value.(*appsv1.Deployment)
			if !ok {
				continue
			}
			for _, c := range d.Spec.Template.Spec.Containers {
				command := "serve"
				if slices.Equal(c.Args, []string{"registry", "serve"}) {
					command = "registry serve"
				}
				for _, e := range c.Env {
					if strings.HasPrefix(e.Name, "WEBSONIC_") && !strings.Contains(help[command], " "+e.Name+" ") {
						t.Errorf("%s: Deployment %s sets %s, which `websonic %s -h` does not list", overlay, d.Name, e.Name, command)
					}
				}
			}
		}
	}
}

// Package deploy checks the deployment files: the Kubernetes manifests
// decode strictly into Kubernetes' own API types (an unknown or misspelled
// field fails, as kubeconform -strict fails it) and describe a cluster
// that can work (SPEC §8); kubeconform or kubectl, where installed, check
// them too. It is a module of its own so that the node does not depend on
// Kubernetes' API packages: run `go test ./...` here.
package deploy

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"slices"
	"strings"
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	policyv1 "k8s.io/api/policy/v1"
	"sigs.k8s.io/yaml"
)

const manifests = "kubernetes/sequencer.yaml"

type objects struct {
	services []corev1.Service
	sets     []appsv1.StatefulSet
	pdbs     []policyv1.PodDisruptionBudget
	policies []networkingv1.NetworkPolicy
}

func load(t *testing.T) objects {
	t.Helper()
	b, err := os.ReadFile(manifests)
	if err != nil {
		t.Fatal(err)
	}
	var o objects
	for i, doc := range bytes.Split(b, []byte("\n---\n")) {
		var head struct{ APIVersion, Kind string }
		if err := yaml.Unmarshal(doc, &head); err != nil {
			t.Fatalf("document %d: %v", i, err)
		}
		var target any
		switch head.APIVersion + " " + head.Kind {
		case "v1 Service":
			o.services = append(o.services, corev1.Service{})
			target = &o.services[len(o.services)-1]
		case "apps/v1 StatefulSet":
			o.sets = append(o.sets, appsv1.StatefulSet{})
			target = &o.sets[len(o.sets)-1]
		case "policy/v1 PodDisruptionBudget":
			o.pdbs = append(o.pdbs, policyv1.PodDisruptionBudget{})
			target = &o.pdbs[len(o.pdbs)-1]
		case "networking.k8s.io/v1 NetworkPolicy":
			o.policies = append(o.policies, networkingv1.NetworkPolicy{})
			target = &o.policies[len(o.policies)-1]
		default:
			t.Fatalf("document %d: unexpected %s %s", i, head.APIVersion, head.Kind)
		}
		if err := yaml.UnmarshalStrict(doc, target); err != nil {
			t.Fatalf("document %d (%s): %v", i, head.Kind, err)
		}
	}
	return o
}

func selects(sel map[string]string, labels map[string]string) bool {
	if len(sel) == 0 {
		return false
	}
	for k, v := range sel {
		if labels[k] != v {
			return false
		}
	}
	return true
}

func flagValue(args []string, name string) (string, bool) {
	for _, a := range args {
		if v, ok := strings.CutPrefix(a, "--"+name+"="); ok {
			return v, true
		}
	}
	return "", false
}

func containerPort(c corev1.Container, name string) int32 {
	for _, p := range c.Ports {
		if p.Name == name {
			return p.ContainerPort
		}
	}
	return 0
}

// The StatefulSet runs a cluster that can form and survive: every voter's
// --cluster names every pod by its stable DNS name on the cluster port,
// each voter's --node-id is its pod name, the headless service publishes
// voters before they are ready, the disruption budget keeps a majority,
// and the data lives on a per-pod volume.
func TestKubernetesManifests(t *testing.T) {
	o := load(t)
	if len(o.sets) != 1 || len(o.pdbs) != 1 {
		t.Fatalf("%d StatefulSets, %d PodDisruptionBudgets; want one each", len(o.sets), len(o.pdbs))
	}
	ss := o.sets[0]
	n := int(*ss.Spec.Replicas)
	if n != 3 && n != 5 {
		t.Fatalf("%d voters; a cluster has 3 or 5", n)
	}
	labels := ss.Spec.Template.Labels
	if !selects(ss.Spec.Selector.MatchLabels, labels) {
		t.Fatal("the StatefulSet's selector does not match its pods")
	}
	var headless *corev1.Service
	for i, s := range o.services {
		if s.Name == ss.Spec.ServiceName {
			headless = &o.services[i]
		}
		if !selects(s.Spec.Selector, labels) {
			t.Errorf("service %s selects no voter", s.Name)
		}
	}
	if headless == nil || headless.Spec.ClusterIP != "None" || !headless.Spec.PublishNotReadyAddresses {
		t.Fatalf("serviceName %q must be a headless service that publishes voters before they are ready", ss.Spec.ServiceName)
	}
	c := ss.Spec.Template.Spec.Containers[0]
	clusterPort := containerPort(c, "cluster")
	spec, ok := flagValue(c.Args, "cluster")
	if !ok || clusterPort == 0 {
		t.Fatal("no --cluster flag or cluster port")
	}
	var want []string
	for i := range n {
		want = append(want, fmt.Sprintf("%s-%d=%s-%d.%s:%d", ss.Name, i, ss.Name, i, ss.Spec.ServiceName, clusterPort))
	}
	if spec != strings.Join(want, ",") {
		t.Fatalf("--cluster=%s\nwant      %s", spec, strings.Join(want, ","))
	}
	if id, _ := flagValue(c.Args, "node-id"); id != "$(POD_NAME)" {
		t.Fatalf("--node-id=%s, want $(POD_NAME)", id)
	}
	env := map[string]corev1.EnvVar{}
	for _, e := range c.Env {
		env[e.Name] = e
	}
	if e := env["POD_NAME"]; e.ValueFrom == nil || e.ValueFrom.FieldRef == nil || e.ValueFrom.FieldRef.FieldPath != "metadata.name" {
		t.Fatal("POD_NAME must come from metadata.name")
	}
	if e := env["PRIVATE_KEY"]; e.ValueFrom == nil || e.ValueFrom.SecretKeyRef == nil {
		t.Fatal("PRIVATE_KEY must come from a secret")
	}
	if l, _ := flagValue(c.Args, "cluster-listen"); !strings.HasSuffix(l, fmt.Sprintf(":%d", clusterPort)) {
		t.Fatalf("--cluster-listen=%s does not listen on the cluster port %d", l, clusterPort)
	}
	if a, _ := flagValue(c.Args, "rpc-addr"); !strings.HasSuffix(a, fmt.Sprintf(":%d", containerPort(c, "rpc"))) {
		t.Fatalf("--rpc-addr=%s is not the rpc port", a)
	}
	dir, _ := flagValue(c.Args, "datadir")
	if len(ss.Spec.VolumeClaimTemplates) != 1 || !slices.ContainsFunc(c.VolumeMounts, func(m corev1.VolumeMount) bool {
		return m.MountPath == dir && m.Name == ss.Spec.VolumeClaimTemplates[0].Name
	}) {
		t.Fatalf("--datadir=%s is not on the per-pod volume", dir)
	}
	if p := c.ReadinessProbe; p == nil || p.HTTPGet == nil || p.HTTPGet.Path != "/healthz" {
		t.Fatal("readiness must be /healthz (503 while a voter knows no leader)")
	}
	pdb := o.pdbs[0]
	if !selects(pdb.Spec.Selector.MatchLabels, labels) {
		t.Fatal("the PodDisruptionBudget selects no voter")
	}
	if pdb.Spec.MaxUnavailable == nil || n-pdb.Spec.MaxUnavailable.IntValue() < n/2+1 {
		t.Fatal("the PodDisruptionBudget must keep a majority of voters up")
	}
	flags := runFlags(t)
	for _, a := range c.Args[1:] {
		name, _, _ := strings.Cut(strings.TrimPrefix(a, "--"), "=")
		if !flags[name] {
			t.Errorf("sequencer run has no flag --%s", name)
		}
	}
}

// runFlags lists the flags of `sequencer run`, from the node's own help.
func runFlags(t *testing.T) map[string]bool {
	t.Helper()
	cmd := exec.Command("go", "run", "./cmd/sequencer", "help")
	cmd.Dir = ".."
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("sequencer help: %v", err)
	}
	flags := map[string]bool{}
	for _, line := range strings.Split(string(out), "\n") {
		if f, ok := strings.CutPrefix(strings.TrimSpace(line), "-"); ok && !strings.HasPrefix(f, "-") {
			name, _, _ := strings.Cut(f, " ")
			flags[name] = true
		}
	}
	if !flags["cluster"] || !flags["datadir"] {
		t.Fatalf("could not read the flags from:\n%s", out)
	}
	return flags
}

// The same files through the outside tools, where they are installed.
func TestKubernetesManifestsOutsideTools(t *testing.T) {
	if path, err := exec.LookPath("kubeconform"); err == nil {
		out, err := exec.Command(path, "-strict", "-summary", manifests).CombinedOutput()
		if err != nil {
			t.Fatalf("kubeconform: %v\n%s", err, out)
		}
		return
	}
	if path, err := exec.LookPath("kubectl"); err == nil {
		if exec.Command(path, "version", "--request-timeout=3s").Run() == nil {
			out, err := exec.Command(path, "apply", "--dry-run=client", "-f", manifests).CombinedOutput()
			if err != nil {
				t.Fatalf("kubectl apply --dry-run=client: %v\n%s", err, out)
			}
			return
		}
	}
	t.Skip("neither kubeconform nor kubectl with a reachable API server here; TestKubernetesManifests decoded the manifests strictly with Kubernetes' own types")
}

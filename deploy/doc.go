// Package deploy holds what puts Web Sonic on a machine or a cluster, and
// the tests that keep it honest (issue 13):
//
//   - install.sh: installs the runtime on a Linux server from a registry,
//     verifying the binary against a pinned TUF root with sh, curl,
//     openssl, sha256sum and awk only, and sets up the distribution's
//     PostgreSQL for it. InstallScript is its text, which the registry
//     serves unstamped at /download/install.sh; StampInstallScript makes a
//     copy with the root fingerprint pinned.
//   - systemd/websonic.service: the hardened unit install.sh installs
//     (SystemdUnit is its text).
//   - kubernetes/: kustomize trees for Kubernetes and OpenShift (a base and
//     overlays/openshift, overlays/kubernetes), decoded strictly with the
//     k8s.io/api types and built with kustomize in deploy_test.go.
//
// Nothing here runs in the runtime or the registry: the package exports
// bytes, and its tests run the script and the manifests for real.
package deploy

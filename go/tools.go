//go:build tools

// Package tools pins the upstream commands this module builds, so that
// `go mod tidy` keeps their dependencies: kube-apiserver and kube-scheduler
// exactly as Kubernetes v1.34 ships them.
package tools

import (
	_ "k8s.io/kubernetes/cmd/kube-apiserver"
	_ "k8s.io/kubernetes/cmd/kube-scheduler"
)

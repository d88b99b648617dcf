// Package imageref checks container image references with the parsers that
// use them: github.com/distribution/reference, by which the docker package
// pulls (as the Docker Engine parses references), and go-containerregistry's
// name package, by which the registry package asks registries. A reference
// either of them refuses would be accepted and then never pulled, so the
// API and the config file refuse it instead.
package imageref

import (
	"fmt"
	"strings"

	"github.com/distribution/reference"
	"github.com/google/go-containerregistry/pkg/name"

	"github.com/arena-hq/arena"
)

// Repository checks a repository: a reference without tag or digest, with
// or without a registry host (registry.example.com:5000/studio/game,
// studio/game on Docker Hub). The error says why the parsers refuse it.
func Repository(repository string) error {
	named, err := reference.ParseNormalizedNamed(repository)
	if err != nil {
		return err
	}
	if !reference.IsNameOnly(named) {
		return fmt.Errorf("%q names a tag or digest; give the repository alone", repository)
	}
	if _, err := name.NewRepository(repository); err != nil {
		return err
	}
	return nil
}

// Host checks a registry host, with an optional port, as the first
// component of a repository.
func Host(host string) error {
	if host == "" || strings.Contains(host, "/") {
		return fmt.Errorf("%q is not a registry host", host)
	}
	named, err := reference.ParseNormalizedNamed(host + "/x")
	if err != nil {
		return err
	}
	if reference.Domain(named) != host {
		// Without a '.' or ':', or being localhost, the engine takes the
		// first component for a path on Docker Hub, not a host.
		return fmt.Errorf("%q is not a registry host: it needs a '.' or a port, or is localhost", host)
	}
	// The name package has its own rule, and a host both must agree on:
	// Docker's parser takes a first component in capitals for a host.
	if repo, err := name.NewRepository(host + "/x"); err != nil || repo.RegistryStr() != host {
		return fmt.Errorf("%q is not a registry host: it needs a '.' or a port, or is localhost", host)
	}
	return nil
}

// Tag checks a tag of a valid repository.
func Tag(repository, tag string) error {
	named, err := reference.ParseNormalizedNamed(repository)
	if err != nil {
		return err
	}
	if _, err := reference.WithTag(named, tag); err != nil {
		return err
	}
	if _, err := name.NewTag(repository + ":" + tag); err != nil {
		return err
	}
	return nil
}

// Application returns the violations of an application's repository and
// tags, named as the admin API and the config file name them.
func Application(a *arena.Application) []arena.Violation {
	if err := Repository(a.Repository); err != nil {
		return []arena.Violation{{Field: "repository", Description: "must be an image repository Docker can pull: " + err.Error()}}
	}
	var v []arena.Violation
	for i, t := range a.Tags {
		if err := Tag(a.Repository, t.Name); err != nil {
			v = append(v, arena.Violation{Field: fmt.Sprintf("tags[%d].name", i), Description: "must be a tag Docker can pull: " + err.Error()})
		}
	}
	return v
}

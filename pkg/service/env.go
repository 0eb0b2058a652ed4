package service

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"
)

// Environment variables EnvOptions reads. The registry itself is configured
// elsewhere (MICRO_REGISTRY, MICRO_REGISTRY_ADDRESS); the service name is
// always set in code.
const (
	// EnvServerAddress is the address to listen on, host:port.
	EnvServerAddress = "MICRO_SERVER_ADDRESS"
	// EnvServerAdvertise is the address to register, host:port or host.
	EnvServerAdvertise = "MICRO_SERVER_ADVERTISE"
	// EnvServiceVersion is the version to register.
	EnvServiceVersion = "MICRO_SERVICE_VERSION"
	// EnvServiceMetadata is node metadata as comma-separated key=value
	// pairs: "zone=eu-1,team=core".
	EnvServiceMetadata = "MICRO_SERVICE_METADATA"
	// EnvRegisterTTL is the registration TTL: a Go duration ("30s") or a
	// whole number of seconds ("30"), as go-micro accepts.
	EnvRegisterTTL = "MICRO_REGISTER_TTL"
	// EnvRegisterInterval is the heartbeat interval, in the same forms as
	// EnvRegisterTTL.
	EnvRegisterInterval = "MICRO_REGISTER_INTERVAL"
	// EnvServerReflection turns the gRPC reflection service off with
	// "false" (or "0", "off", "no"); it is on by default.
	EnvServerReflection = "MICRO_SERVER_REFLECTION"
)

// EnvOptions returns the options that the MICRO_* environment variables
// above ask for, reading them with lookup (os.LookupEnv, or a map in
// tests). Unset and empty variables give no option. Apply the result after
// the options set in code so that the environment wins:
//
//	service.New(append(codeOpts, envOpts...)...)
//
// A malformed value is an error naming the variable; all malformed values
// are reported at once.
func EnvOptions(lookup func(string) (string, bool)) ([]Option, error) {
	if lookup == nil {
		return nil, errors.New("service: environment lookup function is nil")
	}
	get := func(name string) (string, bool) {
		v, ok := lookup(name)
		v = strings.TrimSpace(v)
		return v, ok && v != ""
	}

	var opts []Option
	var errs []error
	check := func(name, value string, opt Option) {
		// Apply the option to a scratch value now so that a bad value is
		// reported against its variable rather than later by New.
		if err := opt(&Options{}); err != nil {
			errs = append(errs, fmt.Errorf("%s=%q: %w", name, value, err))
			return
		}
		opts = append(opts, opt)
	}

	if v, ok := get(EnvServerAddress); ok {
		check(EnvServerAddress, v, Address(v))
	}
	if v, ok := get(EnvServerAdvertise); ok {
		check(EnvServerAdvertise, v, Advertise(v))
	}
	if v, ok := get(EnvServiceVersion); ok {
		check(EnvServiceVersion, v, Version(v))
	}
	if v, ok := get(EnvServiceMetadata); ok {
		md, err := parseMetadata(v)
		if err != nil {
			errs = append(errs, fmt.Errorf("%s=%q: %w", EnvServiceMetadata, v, err))
		} else {
			check(EnvServiceMetadata, v, Metadata(md))
		}
	}
	for _, d := range []struct {
		name string
		opt  func(time.Duration) Option
	}{
		{EnvRegisterTTL, RegisterTTL},
		{EnvRegisterInterval, RegisterInterval},
	} {
		v, ok := get(d.name)
		if !ok {
			continue
		}
		dur, err := parseDuration(v)
		if err != nil {
			errs = append(errs, fmt.Errorf("%s=%q: %w", d.name, v, err))
			continue
		}
		check(d.name, v, d.opt(dur))
	}
	if v, ok := get(EnvServerReflection); ok {
		enabled, err := parseBool(v)
		if err != nil {
			errs = append(errs, fmt.Errorf("%s=%q: %w", EnvServerReflection, v, err))
		} else {
			check(EnvServerReflection, v, Reflection(enabled))
		}
	}
	if err := joinErrors(errs...); err != nil {
		return nil, fmt.Errorf("service: environment: %w", err)
	}
	return opts, nil
}

// parseMetadata parses "k=v,k=v". Empty entries (a trailing comma) are
// skipped; a value may contain '='.
func parseMetadata(s string) (map[string]string, error) {
	md := map[string]string{}
	for entry := range strings.SplitSeq(s, ",") {
		entry = strings.TrimSpace(entry)
		if entry == "" {
			continue
		}
		k, v, ok := strings.Cut(entry, "=")
		k = strings.TrimSpace(k)
		if !ok || k == "" {
			return nil, fmt.Errorf("entry %q is not key=value", entry)
		}
		md[k] = strings.TrimSpace(v)
	}
	return md, nil
}

// parseDuration accepts a Go duration ("30s", "1m30s") or a whole number of
// seconds ("30").
func parseDuration(s string) (time.Duration, error) {
	if secs, err := strconv.ParseInt(s, 10, 64); err == nil {
		if secs > int64(time.Duration(1<<63-1)/time.Second) {
			return 0, fmt.Errorf("%d seconds is too long", secs)
		}
		return time.Duration(secs) * time.Second, nil
	}
	d, err := time.ParseDuration(s)
	if err != nil {
		return 0, errors.New("not a duration such as 30s or a number of seconds")
	}
	return d, nil
}

// parseBool accepts true/false, 1/0, on/off and yes/no, in any case.
func parseBool(s string) (bool, error) {
	switch strings.ToLower(s) {
	case "true", "1", "on", "yes":
		return true, nil
	case "false", "0", "off", "no":
		return false, nil
	}
	return false, errors.New("not true or false")
}

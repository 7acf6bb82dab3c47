// Package store persists Portico's configuration behind one interface. The
// embedded implementation (SQLite) lives in store/sqlite; a shared one
// (PostgreSQL) implements the same interface.
//
// Every write runs in one transaction that also bumps a single revision
// counter row. Because the bump takes the counter row's write lock, commits
// are serialized on it, so a watcher that reads "revision > last seen" never
// misses a change (a sequence or auto-increment does not give that guarantee
// under concurrent writers).
package store

import (
	"context"
	"errors"
	"fmt"

	"github.com/portico-gw/portico/internal/config"
)

// Page selects a slice of a list.
type Page struct {
	Limit  int
	Offset int
}

// Store is the configuration store. Methods that take a pointer fill in the
// server-set fields (ids, timestamps) on success. Errors are *NotFoundError,
// *ConflictError, *InvalidError or an internal error.
type Store interface {
	// Revision is the counter bumped by every committed write.
	Revision(ctx context.Context) (int64, error)
	// Changed receives a value after each committed write made through this
	// Store value (a hint that is never blocked on; poll Revision for writes
	// made by other processes).
	Changed() <-chan struct{}
	// Load reads everything the data plane serves, at one revision.
	Load(ctx context.Context) (*config.State, error)

	CreateChannel(ctx context.Context, c *config.Channel) error
	GetChannel(ctx context.Context, id string) (*config.Channel, error)
	ListChannels(ctx context.Context, p Page) ([]config.Channel, int, error)
	UpdateChannel(ctx context.Context, c *config.Channel) error
	// DeleteChannel fails with a ConflictError listing the bindings while any
	// draft or served API uses the channel.
	DeleteChannel(ctx context.Context, id string) error
	ChannelBindings(ctx context.Context, id string) ([]config.ChannelBinding, error)

	// CreateService and UpdateService fail with an InvalidError on field
	// "domains[i].certificate_id" when a domain names a certificate that
	// does not exist.
	CreateService(ctx context.Context, s *config.Service) error
	GetService(ctx context.Context, id string) (*config.Service, error)
	ListServices(ctx context.Context, p Page) ([]config.Service, int, error)
	UpdateService(ctx context.Context, s *config.Service) error
	// DeleteService fails with a ConflictError while the service is
	// published in any environment. Its draft APIs and history go with it.
	DeleteService(ctx context.Context, id string) error

	// CreateAPI fails with an InvalidError when backend.channel_id does not
	// exist, and with a ConflictError for a duplicate name or an API of the
	// same service with the same method and path.
	CreateAPI(ctx context.Context, a *config.API) error
	GetAPI(ctx context.Context, serviceID, id string) (*config.API, error)
	ListAPIs(ctx context.Context, serviceID string, p Page) ([]config.API, int, error)
	UpdateAPI(ctx context.Context, a *config.API) error
	DeleteAPI(ctx context.Context, serviceID, id string) error

	// Publish copies the service's draft APIs into a new version served in
	// env. It fails with a ConflictError when an API would serve the same
	// method and path as another service on the same host in env.
	Publish(ctx context.Context, serviceID, env, description string) (*config.Release, error)
	// ListReleases is the history of the service, newest first.
	ListReleases(ctx context.Context, serviceID string, p Page) ([]config.Release, int, error)
	Environments(ctx context.Context, serviceID string) ([]config.EnvironmentState, error)
	// Rollback serves an existing version of the service in env again
	// (or for the first time: a promotion); description is its note in
	// the history.
	Rollback(ctx context.Context, serviceID, env, version, description string) (*config.EnvironmentState, error)
	// Unpublish stops serving the service in env; description is its note
	// in the history.
	Unpublish(ctx context.Context, serviceID, env, description string) error
	// History lists every publish, promotion, rollback and unpublish of
	// the service, newest first.
	History(ctx context.Context, serviceID string, p Page) ([]config.ReleaseEvent, int, error)

	// CreatePlugin stores a plugin (ConflictError for a duplicate name).
	CreatePlugin(ctx context.Context, p *config.Plugin) error
	// GetPlugin returns a plugin with its bindings.
	GetPlugin(ctx context.Context, id string) (*config.Plugin, error)
	ListPlugins(ctx context.Context, p Page) ([]config.Plugin, int, error)
	// UpdatePlugin replaces a plugin's name and config; its type cannot
	// change (InvalidError on field "type").
	UpdatePlugin(ctx context.Context, p *config.Plugin) error
	// DeletePlugin fails with a ConflictError listing its bindings while it
	// has any.
	DeletePlugin(ctx context.Context, id string) error
	// BindPlugin stores a binding. The service must exist and the APIs be
	// its own (InvalidError); a plugin of the same type already bound to the
	// same service, environment and API (or to the whole service when the
	// binding names no API) is a ConflictError.
	BindPlugin(ctx context.Context, b *config.PluginBinding) error
	// UnbindPlugin deletes one binding of a plugin.
	UnbindPlugin(ctx context.Context, pluginID, bindingID string) error

	// CreateKey stores a key pair, generating secret_id and secret_key when
	// empty (ConflictError for a duplicate name or secret_id).
	CreateKey(ctx context.Context, k *config.Key) error
	GetKey(ctx context.Context, id string) (*config.Key, error)
	ListKeys(ctx context.Context, p Page) ([]config.Key, int, error)
	UpdateKey(ctx context.Context, k *config.Key) error
	// DeleteKey fails with a ConflictError listing the usage plans that
	// hold the key.
	DeleteKey(ctx context.Context, id string) error

	CreatePlan(ctx context.Context, p *config.UsagePlan) error
	// GetPlan returns a plan with its keys and bindings.
	GetPlan(ctx context.Context, id string) (*config.UsagePlan, error)
	ListPlans(ctx context.Context, p Page) ([]config.UsagePlan, int, error)
	UpdatePlan(ctx context.Context, p *config.UsagePlan) error
	// DeletePlan fails with a ConflictError listing its bindings while it
	// has any; its keys are released.
	DeletePlan(ctx context.Context, id string) error
	// AddPlanKeys puts keys in a plan (InvalidError naming an unknown key);
	// keys already in it are kept.
	AddPlanKeys(ctx context.Context, planID string, keyIDs []string) error
	RemovePlanKey(ctx context.Context, planID, keyID string) error
	// BindPlan binds a plan like BindPlugin binds a plugin: one plan per
	// service, environment and API (or whole service).
	BindPlan(ctx context.Context, b *config.PlanBinding) error
	UnbindPlan(ctx context.Context, planID, bindingID string) error

	// CreateApp stores an application and generates its app_key and
	// app_secret (ConflictError for a duplicate name).
	CreateApp(ctx context.Context, a *config.App) error
	GetApp(ctx context.Context, id string) (*config.App, error)
	ListApps(ctx context.Context, p Page) ([]config.App, int, error)
	// UpdateApp replaces name and description; the key and secret stay.
	UpdateApp(ctx context.Context, a *config.App) error
	// DeleteApp fails with a ConflictError listing its bindings.
	DeleteApp(ctx context.Context, id string) error
	// BindApp lets an application call an API in an environment
	// (InvalidError for an unknown app; NotFoundError for the API;
	// ConflictError when already bound).
	BindApp(ctx context.Context, b *config.AppBinding) error
	// AppBindings lists the applications bound to an API.
	AppBindings(ctx context.Context, serviceID, apiID string) ([]config.AppBinding, error)
	// ListAppBindings lists the APIs an application is bound to, oldest
	// first (NotFoundError for an unknown app).
	ListAppBindings(ctx context.Context, appID string, p Page) ([]config.AppBinding, int, error)
	UnbindApp(ctx context.Context, serviceID, apiID, bindingID string) error

	// CreateCertificate stores a validated certificate (id "cert-…";
	// ConflictError on field "name" for a duplicate name).
	CreateCertificate(ctx context.Context, c *config.Certificate) error
	// GetCertificate returns a certificate, key included.
	GetCertificate(ctx context.Context, id string) (*config.Certificate, error)
	ListCertificates(ctx context.Context, p Page) ([]config.Certificate, int, error)
	// UpdateCertificate replaces name, chain and key.
	UpdateCertificate(ctx context.Context, c *config.Certificate) error
	// DeleteCertificate fails with a ConflictError whose details are the
	// []config.CertificateUse of the custom domains that name it.
	DeleteCertificate(ctx context.Context, id string) error

	// AdminToken returns the stored admin token ("" when none).
	AdminToken(ctx context.Context) (string, error)
	SetAdminToken(ctx context.Context, token string) error

	Close() error
}

// NotFoundError says that an object named in the URL does not exist.
type NotFoundError struct {
	Kind string // "channel", "service", "api", "release", "environment"
	ID   string
}

func (e *NotFoundError) Error() string { return fmt.Sprintf("%s %q not found", e.Kind, e.ID) }

// ConflictError says that a write would break something; Details lists the
// objects in the way.
type ConflictError struct {
	Message string
	Field   string
	Details []any
}

func (e *ConflictError) Error() string { return e.Message }

// InvalidError says that the body refers to something that does not exist or
// cannot be used (a 400, with the field path).
type InvalidError struct {
	Field   string
	Message string
}

func (e *InvalidError) Error() string { return e.Message }

// IsNotFound reports whether err is a NotFoundError.
func IsNotFound(err error) bool {
	var nf *NotFoundError
	return errors.As(err, &nf)
}

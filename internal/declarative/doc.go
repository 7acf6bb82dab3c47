// Package declarative is Portico's declarative configuration: a whole
// gateway configuration as one YAML or JSON document, the engine that turns
// a document into the changes that make a gateway match it, and the export
// of a gateway as a document.
//
// # The document
//
// A document has the sections channels, certificates, services (with their
// apis and environments), keys, usage_plans, applications and plugins.
// Every field is the admin API's field of the same name (docs/admin-api.md),
// except that objects refer to each other by name, never by generated id,
// so that one document serves every environment and every cluster:
//
//	admin API                                 document
//	backend.channel_id                        backend.channel
//	domains[].certificate_id                  domains[].certificate
//	usage plan key_ids                        usage_plans[].keys
//	{service_id, environment, api_ids}        bindings: [{service, environment, apis}]
//	  (plan and plugin bindings)
//	{app_id, service_id, api_id, environment} applications[].bindings: [{service, environment, api}]
//	  (app bindings)
//	special_apps[].app_id (traffic_control)   special_apps[].app
//
// A name is an object's identity: a channel in a document must have one,
// and a renamed object is a new object (the old one is deleted with
// prune). References resolve within the document only. A service's apis
// are its draft; its environments list where that draft is served. The
// read-only fields (ids, timestamps, warnings, hosts and dates of
// certificates, node health) are not part of a document. testdata/example.yaml is an
// example.
//
// # Reading and writing documents
//
//	func Parse(data []byte, dir string, getenv func(string) (string, bool)) (*Document, error)
//	func Marshal(doc *Document, format Format) ([]byte, error)
//	func MarshalPlaceholders(doc *Document, format Format) ([]byte, map[string]string, error)
//	func ParseFormat(s string) (Format, error)   // "yaml", "yml", "json"
//
// Parse decodes YAML (a superset of JSON) into a generic tree, checks every
// field against the document's types on the way (exact names, types,
// repeated keys), re-encodes it as JSON and decodes that with encoding/json
// refusing unknown fields, then validates the objects with package
// config's rules and the references between them. A document with any
// problem is refused whole with a *DocumentError that lists every problem
// (up to 100) with its path and line: "services[0].apis[1].backend.channel:
// no channel \"x\"", "channels[2].nodes[0].port: must be 1-65535". What it
// returns is canonical: defaults filled in as the admin API fills them,
// objects sorted by name, set-like lists sorted; Marshal writes it in that
// order, and Parse(Marshal(doc)) equals doc.
//
// ${VAR} in a value is replaced by getenv(VAR) before the value is typed;
// $${ is a literal ${. An unknown variable is a problem naming it and the
// field. cert_file and key_file are read relative to dir; dir == "" reads
// no file.
//
// # Export, plan, apply
//
//	func Export(ctx context.Context, s store.Store) (*Document, error)
//	func NewPlan(ctx context.Context, s store.Store, doc *Document, opts Options) (*Plan, error)
//	func (p *Plan) Apply(ctx context.Context, s store.Store) error
//
// Export reads everything through the store.Store interface (Load, and
// ListServices and ListAPIs through all their pages) and returns the
// canonical document, with Notes for what a document cannot say. NewPlan
// compares a document with the gateway and returns the ordered changes,
// each with a one-line text ("+ channel orders_pool", "~ channel
// orders_pool: nodes[0].weight 10 -> 20", "- plugin old_one", "publish
// service shop to release"); it only reads. Apply makes them through the
// store's methods, resolving the ids of what it creates as it goes. (The
// planning function is NewPlan rather than Plan: the plan's type is Plan.)
//
// Applying the same document twice changes nothing: both sides are
// normalized before they are compared, so the second plan is empty, and an
// empty plan writes nothing (the store's revision does not move). A listed
// environment is published only when the APIs it serves differ from the
// draft (ids and timestamps ignored).
//
// Without Options.Prune, nothing the document does not name is deleted:
// the gateway's other channels, services, APIs, environments, keys, plans,
// applications, plugins and certificates stay, and Plan.Kept lists them.
// An object the document names is made to match it whole, bindings and
// plan keys included, except bindings and plan keys that refer to what the
// document does not name (they stay); a binding that names a deleted API
// matches nothing and is replaced. With Prune, everything else is
// deleted, in dependency order (bindings; plugins, plans, keys,
// applications; APIs and services, unpublished first; channels and
// certificates), channels without a name included ("- channel ch-… (unnamed:
// a document cannot name it)"). A plugin whose type changes is deleted and
// created again (its type cannot change in place).
//
// # Secrets
//
// Export writes keys' secret_key and certificates' key_pem, so that a
// document restores a gateway whole. (A key's secret_id or secret_key left
// out of a document is generated when the key is created, and kept when it
// exists.) MarshalPlaceholders writes
// ${PORTICO_KEY_<NAME>_SECRET_KEY} and ${PORTICO_CERTIFICATE_<NAME>_KEY_PEM}
// instead and returns the values, for a document that can be committed to
// version control. Applications' app_key and app_secret are not part of a
// document: the store generates them and store.Store offers no way to set
// them, so an application created from a document gets new ones.
//
// # For the admin endpoint
//
// GET /api/v1/config: Export, then Marshal in the format asked for
// (?format=yaml|json). An *ExportError (a draft API uses a channel without
// a name) is a 409. Notes may go in a response header or be logged. Note
// that the answer carries certificates' key_pem, which the certificate
// endpoints never return: document that, or answer with
// MarshalPlaceholders unless asked for the secrets.
//
// PUT /api/v1/config?prune=true&dry_run=true, the body a document:
//
//	doc, err := declarative.Parse(body, "", nil)   // no server file, no server variable
//	// *DocumentError: 400, details = err.Problems
//	var plan *declarative.Plan
//	err = batcher.Batch(ctx, func(tx store.Store) error {   // store.Batcher: one transaction
//		plan, err = declarative.NewPlan(ctx, tx, doc, declarative.Options{Prune: prune})
//		switch {
//		case err != nil:
//			return err       // *DocumentError here: 409, the gateway's state is in the way
//		case dryRun || plan.Empty():
//			return errRollBack   // the wrapper's own: nothing to commit
//		}
//		return plan.Apply(ctx, tx)   // *ApplyError: map .Err as any store error (400, 409, 503)
//	})
//	// answer 200 with the plan: {"changes": [...], "kept": [...], "revision": N}
//
// Planning and applying in the same transaction keeps the plan true when
// it is applied; Plan.Revision (the committed revision the plan was
// computed at, as Store.Revision reports it) lets a wrapper that plans
// and applies apart compare it. A store batch commits a revision even
// when nothing was written: for a dry run or an empty plan, end the batch
// with an error of the wrapper's own so that it rolls back and the
// revision stays. Apply keeps no state between calls, so a transaction
// that is retried can plan and apply again.
//
// # For the CLI
//
// portico apply -f file [--prune] and portico diff -f file [--prune] read
// the file with Parse(data, filepath.Dir(file), os.LookupEnv), so that
// variables and files are resolved on the operator's machine (problems are
// shown with their lines), send Marshal(doc, JSON) to PUT /api/v1/config
// (diff with dry_run=true) and print the changes' texts, then Kept. diff
// exits as diff(1) does: 0 when the gateway matches the file, 1 when
// there are changes, 2 on an error. portico export writes GET
// /api/v1/config to stdout or a file; with --placeholders it reads the
// answer with Parse and writes MarshalPlaceholders' text, and the values
// to an env file (mode 0600) when asked.
//
// # Not covered
//
// A document holds one version of each service, its draft: older versions
// that an environment serves, the release history and rollbacks are not
// expressed (Export notes an environment that serves other than the
// draft, and applying publishes the draft there). Renames are a delete and
// a create. Two objects that swap a domain, a route or a secret_id are
// not ordered (the store refuses the first); a route that collides with a
// service the document does not name is refused by the store at Apply.
// The admin token and the cluster's nodes are not configuration.
package declarative

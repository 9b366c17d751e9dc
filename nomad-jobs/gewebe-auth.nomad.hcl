# gewebe-auth: accounts, sessions, signing keys and the JWKS.
#
#   nomad job plan -var-file=nomad-jobs/prod.vars.hcl nomad-jobs/gewebe-auth.nomad.hcl
#   nomad job run  -check-index <index> -var-file=nomad-jobs/prod.vars.hcl nomad-jobs/gewebe-auth.nomad.hcl
#
# Secrets live in the Nomad Variable nomad/jobs/gewebe-auth (see runbooks/secrets.md):
#   AUTH_KEK             base64 of 32 random bytes, seals the signing keys
#   DATABASE_PASSWORD    password of the PostgreSQL role gewebe_auth (PgBouncer authenticates it too)
#   SERVE_DATABASE_PASSWORD  password of gewebe_auth_app, the login role `serve` uses (member of
#                        gewebe_auth_serve: may only append to the audit log; runbooks/deploy-first.md)
#   REDIS_PASSWORD       KeyDB's requirepass (shared: nomad/jobs/gewebe-keydb holds the same value)
# This job never holds a secret literal; the policy tests in crates/deploy-policy enforce it.

variable "image" {
  type        = string
  description = "gewebe-auth image pinned by digest, e.g. registry.example/gewebe-auth@sha256:<64 hex>."
  validation {
    condition     = can(regex("^[a-z0-9./_-]+(:[A-Za-z0-9._-]+)?@sha256:[0-9a-f]{64}$", var.image))
    error_message = "image must be pinned by digest: name@sha256:<64 hex>; a tag alone or latest is refused."
  }
}

variable "datacenters" {
  type    = list(string)
  default = ["fsn1"]
}

variable "instances" {
  type    = number
  default = 3
  validation {
    condition     = var.instances >= 2
    error_message = "gewebe-auth runs at least two instances so a rollout or a lost node never takes logins down."
  }
}

variable "public_host" {
  type        = string
  description = "The public origin's host name, e.g. gewebe.example.org."
}

variable "edge_cidr" {
  type        = string
  description = "Private range of the Caddy edge nodes; only their X-Forwarded-For is believed."
  default     = "10.0.1.0/24"
}

job "gewebe-auth" {
  datacenters = var.datacenters
  type        = "service"

  meta {
    service = "auth"
  }

  update {
    max_parallel      = 1
    canary            = 1
    auto_promote      = true
    auto_revert       = true
    health_check      = "checks"
    min_healthy_time  = "20s"
    healthy_deadline  = "3m"
    progress_deadline = "10m"
    stagger           = "30s"
  }

  group "auth" {
    count = var.instances

    # Between deregistering the group's services (Caddy's upstream template drops the instance)
    # and SIGTERM: no new requests arrive while the task drains.
    shutdown_delay = "10s"

    # Keeps the audit anchors (AUTH_AUDIT_ANCHOR_PATH) across updates and moves of the allocation.
    ephemeral_disk {
      sticky  = true
      migrate = true
      size    = 300
    }

    # The stateless tier; database, stream and edge nodes keep their resources to themselves.
    constraint {
      attribute = "${meta.gewebe_role}"
      value     = "app"
    }

    spread {
      attribute = "${node.unique.id}"
    }

    network {
      port "http" {
        to = 8081
      }
    }

    restart {
      attempts = 3
      interval = "5m"
      delay    = "15s"
      mode     = "delay"
    }

    reschedule {
      delay          = "30s"
      delay_function = "exponential"
      max_delay      = "10m"
      unlimited      = true
    }

    service {
      name     = "gewebe-auth"
      provider = "nomad"
      port     = "http"
      tags     = ["edge", "route:/auth", "route:/.well-known/jwks.json"]

      check {
        name     = "ready"
        type     = "http"
        path     = "/health/ready"
        interval = "5s"
        timeout  = "2s"
      }

      check {
        name     = "live"
        type     = "http"
        path     = "/health/live"
        interval = "10s"
        timeout  = "2s"

        check_restart {
          limit = 3
          grace = "30s"
        }
      }
    }

    # Schema changes run once per allocation before `serve` starts, on the direct connection (the
    # advisory lock and DDL do not work through PgBouncer). A failing migration fails the canary and
    # auto_revert brings the previous version back.
    task "migrate" {
      driver = "docker"

      lifecycle {
        hook    = "prestart"
        sidecar = false
      }

      config {
        image = var.image
        args  = ["migrate"]
      }

      # The same configuration as `serve`: the binary parses all of it before any subcommand.
      env {
        BIND_ADDR                     = "0.0.0.0:8081"
        HTTP_BODY_LIMIT_BYTES         = "65536"
        HTTP_REQUEST_TIMEOUT_MS       = "10000"
        HTTP_CONCURRENCY_LIMIT        = "512"
        HTTP_RETRY_AFTER_SECS         = "1"
        CORS_ALLOWED_ORIGINS          = ""
        TRUSTED_PROXIES               = var.edge_cidr
        SHUTDOWN_DEADLINE_SECS        = "25"
        READY_CHECK_TIMEOUT_MS        = "1000"
        RUST_LOG                      = "info"
        DATABASE_MAX_CONNECTIONS      = "10"
        DATABASE_ACQUIRE_TIMEOUT_MS   = "2000"
        DATABASE_STATEMENT_TIMEOUT_MS = "5000"
        REDIS_KEY_PREFIX              = "gewebe:"
        AUTH_KEY_ROTATION_DAYS        = "180"
        AUTH_KEY_OVERLAP_DAYS         = "14"
        JWT_ISSUER                    = "gewebe-auth"
        JWT_AUDIENCE                  = "gewebe"
        AUTH_ARGON2_M_KIB             = "19456"
        AUTH_ARGON2_T                 = "2"
        AUTH_ARGON2_P                 = "1"
        ACCESS_TOKEN_TTL_SECS         = "900"
        AUTH_REFRESH_TTL_DAYS         = "30"
        AUTH_REFRESH_GRACE_SECS       = "10"
        # auth verifies its own tokens against its own route inside the container.
        JWKS_URL                       = "http://127.0.0.1:8081/.well-known/jwks.json"
        JWKS_REFRESH_MIN_INTERVAL_SECS = "5"
        JWKS_CACHE_TTL_SECS            = "300"
        JWT_LEEWAY_SECS                = "30"
        AUTH_LOGIN_MAX_FAILURES        = "5"
        AUTH_LOGIN_WINDOW_SECS         = "60"
        AUTH_LOGIN_BLOCK_SECS          = "300"
        AUTH_LOGIN_IP_MAX_FAILURES     = "50"
        AUTH_REGISTER_MAX_PER_IP       = "10"
        AUTH_REGISTER_WINDOW_SECS      = "3600"
        # Across addresses: 10 free attempts per 15 min, then a delay doubling to 60 s; addresses
        # the owner logged in from in the last 30 days are exempt (runbooks/auth-security.md).
        AUTH_LOGIN_ACCOUNT_FREE_FAILURES  = "10"
        AUTH_LOGIN_ACCOUNT_WINDOW_SECS    = "900"
        AUTH_LOGIN_ACCOUNT_MAX_DELAY_SECS = "60"
        AUTH_LOGIN_KNOWN_ADDRESS_DAYS     = "30"
        AUTH_LOGIN_AUDIT_WINDOW_SECS      = "900"
        # 4 × 19 MiB of argon2 at once fits memory_max with room; more logins get 503 at once.
        AUTH_HASH_CONCURRENCY           = "4"
        AUTH_HOUSEKEEPING_INTERVAL_SECS = "60"
        # Signed checkpoints of the audit chain's head, off the database's storage: the
        # allocation's sticky disk (migrated with the allocation); runbooks/auth-security.md says
        # how to collect them for `audit verify --anchor`.
        AUTH_AUDIT_ANCHOR_PATH          = "/alloc/data/audit-anchors.jsonl"
        AUTH_AUDIT_ANCHOR_INTERVAL_SECS = "300"
      }

      template {
        destination = "secrets/db.env"
        env         = true
        change_mode = "noop"
        data        = <<-EOT
          {{ with nomadVar "nomad/jobs/gewebe-auth" -}}
          {{- $pw := .DATABASE_PASSWORD -}}
          {{- range $i, $s := nomadService "gewebe-postgres-primary" }}{{ if eq $i 0 -}}
          DATABASE_URL=postgres://gewebe_auth:{{ $pw }}@{{ $s.Address }}:{{ $s.Port }}/gewebe
          DATABASE_DIRECT_URL=postgres://gewebe_auth:{{ $pw }}@{{ $s.Address }}:{{ $s.Port }}/gewebe
          {{ end }}{{ end -}}
          {{- $rpw := .REDIS_PASSWORD -}}
          {{- range $i, $s := nomadService "gewebe-keydb" }}{{ if eq $i 0 -}}
          REDIS_URL=redis://:{{ $rpw }}@{{ $s.Address }}:{{ $s.Port }}
          {{ end }}{{ end -}}
          AUTH_KEK={{ .AUTH_KEK }}
          {{- end }}
        EOT
      }

      # The prestart task's logs and traces go where the service's go.
      template {
        destination = "local/telemetry.env"
        env         = true
        change_mode = "noop"
        data        = <<-EOT
          {{ range $i, $s := nomadService "gewebe-loki" }}{{ if eq $i 0 }}LOKI_URL=http://{{ $s.Address }}:{{ $s.Port }}{{ end }}{{ end }}
          {{ range $i, $s := nomadService "gewebe-tempo-otlp" }}{{ if eq $i 0 }}OTEL_EXPORTER_OTLP_ENDPOINT=http://{{ $s.Address }}:{{ $s.Port }}{{ end }}{{ end }}
        EOT
      }

      resources {
        cpu        = 200
        memory     = 128
        memory_max = 256
      }
    }

    task "serve" {
      driver = "docker"

      # Caddy's health checks and Nomad's catalogue drop the instance first; then SIGTERM, then up
      # to SHUTDOWN_DEADLINE_SECS of drain, with headroom before Nomad sends SIGKILL.
      kill_signal  = "SIGTERM"
      kill_timeout = "40s"

      config {
        image = var.image
        args  = ["serve"]
        ports = ["http"]
      }

      env {
        BIND_ADDR                     = "0.0.0.0:8081"
        HTTP_BODY_LIMIT_BYTES         = "65536"
        HTTP_REQUEST_TIMEOUT_MS       = "10000"
        HTTP_CONCURRENCY_LIMIT        = "512"
        HTTP_RETRY_AFTER_SECS         = "1"
        CORS_ALLOWED_ORIGINS          = ""
        TRUSTED_PROXIES               = var.edge_cidr
        SHUTDOWN_DEADLINE_SECS        = "25"
        READY_CHECK_TIMEOUT_MS        = "1000"
        RUST_LOG                      = "info"
        DATABASE_MAX_CONNECTIONS      = "10"
        DATABASE_ACQUIRE_TIMEOUT_MS   = "2000"
        DATABASE_STATEMENT_TIMEOUT_MS = "5000"
        REDIS_KEY_PREFIX              = "gewebe:"
        AUTH_KEY_ROTATION_DAYS        = "180"
        AUTH_KEY_OVERLAP_DAYS         = "14"
        JWT_ISSUER                    = "gewebe-auth"
        JWT_AUDIENCE                  = "gewebe"
        AUTH_ARGON2_M_KIB             = "19456"
        AUTH_ARGON2_T                 = "2"
        AUTH_ARGON2_P                 = "1"
        ACCESS_TOKEN_TTL_SECS         = "900"
        AUTH_REFRESH_TTL_DAYS         = "30"
        AUTH_REFRESH_GRACE_SECS       = "10"
        # auth verifies its own tokens against its own route inside the container.
        JWKS_URL                       = "http://127.0.0.1:8081/.well-known/jwks.json"
        JWKS_REFRESH_MIN_INTERVAL_SECS = "5"
        JWKS_CACHE_TTL_SECS            = "300"
        JWT_LEEWAY_SECS                = "30"
        AUTH_LOGIN_MAX_FAILURES        = "5"
        AUTH_LOGIN_WINDOW_SECS         = "60"
        AUTH_LOGIN_BLOCK_SECS          = "300"
        AUTH_LOGIN_IP_MAX_FAILURES     = "50"
        AUTH_REGISTER_MAX_PER_IP       = "10"
        AUTH_REGISTER_WINDOW_SECS      = "3600"
        # Across addresses: 10 free attempts per 15 min, then a delay doubling to 60 s; addresses
        # the owner logged in from in the last 30 days are exempt (runbooks/auth-security.md).
        AUTH_LOGIN_ACCOUNT_FREE_FAILURES  = "10"
        AUTH_LOGIN_ACCOUNT_WINDOW_SECS    = "900"
        AUTH_LOGIN_ACCOUNT_MAX_DELAY_SECS = "60"
        AUTH_LOGIN_KNOWN_ADDRESS_DAYS     = "30"
        AUTH_LOGIN_AUDIT_WINDOW_SECS      = "900"
        # 4 × 19 MiB of argon2 at once fits memory_max with room; more logins get 503 at once.
        AUTH_HASH_CONCURRENCY           = "4"
        AUTH_HOUSEKEEPING_INTERVAL_SECS = "60"
        # Signed checkpoints of the audit chain's head, off the database's storage: the
        # allocation's sticky disk (migrated with the allocation); runbooks/auth-security.md says
        # how to collect them for `audit verify --anchor`.
        AUTH_AUDIT_ANCHOR_PATH          = "/alloc/data/audit-anchors.jsonl"
        AUTH_AUDIT_ANCHOR_INTERVAL_SECS = "300"
      }

      # Where the observability backends are; not secret. A moved Loki/Tempo re-renders this and
      # restarts the task (rare: both are pinned to the ops nodes).
      template {
        destination = "local/telemetry.env"
        env         = true
        change_mode = "restart"
        splay       = "30s"
        data        = <<-EOT
          {{ range $i, $s := nomadService "gewebe-loki" }}{{ if eq $i 0 }}LOKI_URL=http://{{ $s.Address }}:{{ $s.Port }}{{ end }}{{ end }}
          {{ range $i, $s := nomadService "gewebe-tempo-otlp" }}{{ if eq $i 0 }}OTEL_EXPORTER_OTLP_ENDPOINT=http://{{ $s.Address }}:{{ $s.Port }}{{ end }}{{ end }}
        EOT
      }

      # Pooled queries go through PgBouncer; LISTEN and the key-rotation lock use the direct URL.
      # `serve` connects as gewebe_auth_app, a member of gewebe_auth_serve (migration 0008): it may
      # append to the audit log but not rewrite it, drop its triggers or rewind its head; only
      # `migrate` runs as the schema's owner gewebe_auth.
      template {
        destination = "secrets/app.env"
        env         = true
        change_mode = "restart"
        splay       = "30s"
        data        = <<-EOT
          {{ with nomadVar "nomad/jobs/gewebe-auth" -}}
          {{- $pw := .SERVE_DATABASE_PASSWORD -}}
          {{- range $i, $s := nomadService "gewebe-pgbouncer" }}{{ if eq $i 0 -}}
          DATABASE_URL=postgres://gewebe_auth_app:{{ $pw }}@{{ $s.Address }}:{{ $s.Port }}/gewebe
          {{ end }}{{ end -}}
          {{- range $i, $s := nomadService "gewebe-postgres-primary" }}{{ if eq $i 0 -}}
          DATABASE_DIRECT_URL=postgres://gewebe_auth_app:{{ $pw }}@{{ $s.Address }}:{{ $s.Port }}/gewebe
          {{ end }}{{ end -}}
          {{- $rpw := .REDIS_PASSWORD -}}
          {{- range $i, $s := nomadService "gewebe-keydb" }}{{ if eq $i 0 -}}
          REDIS_URL=redis://:{{ $rpw }}@{{ $s.Address }}:{{ $s.Port }}
          {{ end }}{{ end -}}
          AUTH_KEK={{ .AUTH_KEK }}
          {{- end }}
        EOT
      }

      resources {
        # argon2id at m = 19 MiB: each concurrent login holds that much; memory_max absorbs bursts.
        cpu        = 1000
        memory     = 384
        memory_max = 768
      }
    }
  }
}

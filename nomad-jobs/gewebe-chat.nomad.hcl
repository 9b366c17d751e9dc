# gewebe-chat: conversations, messages, the chat WebSocket.
#
#   nomad job plan -var-file=nomad-jobs/prod.vars.hcl nomad-jobs/gewebe-chat.nomad.hcl
#   nomad job run  -check-index <index> -var-file=nomad-jobs/prod.vars.hcl nomad-jobs/gewebe-chat.nomad.hcl
#
# Secrets live in the Nomad Variable nomad/jobs/gewebe-chat (see runbooks/secrets.md):
#   DATABASE_PASSWORD    password of the PostgreSQL role gewebe_chat
#   NATS_PASSWORD        password of the NATS user chat (nomad/jobs/gewebe-nats holds the same)
#   REDIS_PASSWORD       KeyDB's requirepass (tickets)
# This job never holds a secret literal; the policy tests in crates/deploy-policy enforce it.

variable "image" {
  type        = string
  description = "gewebe-chat image pinned by digest, e.g. registry.example/gewebe-chat@sha256:<64 hex>."
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
    error_message = "gewebe-chat runs at least two instances so a rollout or a lost node never takes it down."
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

job "gewebe-chat" {
  datacenters = var.datacenters
  type        = "service"

  meta {
    service = "chat"
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

  group "chat" {
    count = var.instances

    # Between deregistering the group's services (Caddy's upstream template drops the instance)
    # and SIGTERM: no new requests arrive while the task drains.
    shutdown_delay = "10s"

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
        to = 8083
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
      name     = "gewebe-chat"
      provider = "nomad"
      port     = "http"
      tags     = ["edge", "route:/chat"]

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

    # Schema changes run before `serve` starts, on the direct connection. A failing migration fails the canary and auto_revert brings the old version back.
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
        BIND_ADDR                     = "0.0.0.0:8083"
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
        NATS_SUBJECT_PREFIX           = "gewebe"
        # Every verifier fetches the JWKS through the public origin: Caddy health-checks auth, so a
        # lost auth instance never stalls verification.
        JWKS_URL                         = "https://${var.public_host}/.well-known/jwks.json"
        JWT_ISSUER                       = "gewebe-auth"
        JWT_AUDIENCE                     = "gewebe"
        JWKS_REFRESH_MIN_INTERVAL_SECS   = "30"
        JWKS_CACHE_TTL_SECS              = "300"
        JWT_LEEWAY_SECS                  = "30"
        REDIS_KEY_PREFIX                 = "gewebe:"
        CHAT_MAX_CONNECTIONS             = "10000"
        CHAT_MAX_CONNECTIONS_PER_ACCOUNT = "16"
        # The seed's guard: 10 frames/s, bursts of 20; 20 refusals within 10 s close with 1008.
        CHAT_FRAMES_PER_SEC      = "10"
        CHAT_FRAME_BURST         = "20"
        CHAT_SENDS_PER_SEC       = "10"
        CHAT_SEND_BURST          = "30"
        CHAT_ABUSE_LIMIT         = "20"
        CHAT_ABUSE_WINDOW_SECS   = "10"
        CHAT_IDLE_MS             = "30000"
        CHAT_MAX_FRAME_BYTES     = "16384"
        CHAT_OUTBOUND_QUEUE      = "256"
        CHAT_REAUTH_BEFORE_SECS  = "60"
        CHAT_REAUTH_GRACE_SECS   = "10"
        CHAT_RESUME_MAX_MESSAGES = "1000"
        CHAT_TICKET_TTL_SECS     = "30"
        CHAT_CONSUMER            = "true"
        # Whether a node exists, asked before its room is made; through the public origin, like the JWKS.
        CHAT_GEO_URL = "https://${var.public_host}"
      }

      template {
        destination = "secrets/db.env"
        env         = true
        change_mode = "noop"
        data        = <<-EOT
          {{ with nomadVar "nomad/jobs/gewebe-chat" -}}
          {{- $pw := .DATABASE_PASSWORD -}}
          {{- range $i, $s := nomadService "gewebe-postgres-primary" }}{{ if eq $i 0 -}}
          DATABASE_URL=postgres://gewebe_chat:{{ $pw }}@{{ $s.Address }}:{{ $s.Port }}/gewebe
          DATABASE_DIRECT_URL=postgres://gewebe_chat:{{ $pw }}@{{ $s.Address }}:{{ $s.Port }}/gewebe
          {{ end }}{{ end -}}
          {{- $npw := .NATS_PASSWORD -}}
          NATS_URL={{ range $i, $s := nomadService "gewebe-nats" }}{{ if eq $i 0 }}nats://chat:{{ $npw }}@{{ $s.Address }}:{{ $s.Port }}{{ end }}{{ end }}
          {{- $rpw := .REDIS_PASSWORD -}}
          {{- range $i, $s := nomadService "gewebe-keydb" }}{{ if eq $i 0 }}
          REDIS_URL=redis://:{{ $rpw }}@{{ $s.Address }}:{{ $s.Port }}
          {{- end }}{{ end }}
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
        BIND_ADDR                     = "0.0.0.0:8083"
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
        NATS_SUBJECT_PREFIX           = "gewebe"
        # Every verifier fetches the JWKS through the public origin: Caddy health-checks auth, so a
        # lost auth instance never stalls verification.
        JWKS_URL                         = "https://${var.public_host}/.well-known/jwks.json"
        JWT_ISSUER                       = "gewebe-auth"
        JWT_AUDIENCE                     = "gewebe"
        JWKS_REFRESH_MIN_INTERVAL_SECS   = "30"
        JWKS_CACHE_TTL_SECS              = "300"
        JWT_LEEWAY_SECS                  = "30"
        REDIS_KEY_PREFIX                 = "gewebe:"
        CHAT_MAX_CONNECTIONS             = "10000"
        CHAT_MAX_CONNECTIONS_PER_ACCOUNT = "16"
        # The seed's guard: 10 frames/s, bursts of 20; 20 refusals within 10 s close with 1008.
        CHAT_FRAMES_PER_SEC      = "10"
        CHAT_FRAME_BURST         = "20"
        CHAT_SENDS_PER_SEC       = "10"
        CHAT_SEND_BURST          = "30"
        CHAT_ABUSE_LIMIT         = "20"
        CHAT_ABUSE_WINDOW_SECS   = "10"
        CHAT_IDLE_MS             = "30000"
        CHAT_MAX_FRAME_BYTES     = "16384"
        CHAT_OUTBOUND_QUEUE      = "256"
        CHAT_REAUTH_BEFORE_SECS  = "60"
        CHAT_REAUTH_GRACE_SECS   = "10"
        CHAT_RESUME_MAX_MESSAGES = "1000"
        CHAT_TICKET_TTL_SECS     = "30"
        CHAT_CONSUMER            = "true"
        # Whether a node exists, asked before its room is made; through the public origin, like the JWKS.
        CHAT_GEO_URL = "https://${var.public_host}"
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

      # Connection strings carry credentials, so they are rendered from the Nomad Variable. NATS_URL
      # names one node (async-nats takes a single URL); the client learns the other two from the
      # server's INFO and fails over to them.
      template {
        destination = "secrets/app.env"
        env         = true
        change_mode = "restart"
        splay       = "30s"
        data        = <<-EOT
          {{ with nomadVar "nomad/jobs/gewebe-chat" -}}
          {{- $pw := .DATABASE_PASSWORD -}}
          {{- range $i, $s := nomadService "gewebe-pgbouncer" }}{{ if eq $i 0 -}}
          DATABASE_URL=postgres://gewebe_chat:{{ $pw }}@{{ $s.Address }}:{{ $s.Port }}/gewebe
          {{ end }}{{ end -}}
          {{- range $i, $s := nomadService "gewebe-postgres-primary" }}{{ if eq $i 0 -}}
          DATABASE_DIRECT_URL=postgres://gewebe_chat:{{ $pw }}@{{ $s.Address }}:{{ $s.Port }}/gewebe
          {{ end }}{{ end -}}
          {{- $npw := .NATS_PASSWORD -}}
          NATS_URL={{ range $i, $s := nomadService "gewebe-nats" }}{{ if eq $i 0 }}nats://chat:{{ $npw }}@{{ $s.Address }}:{{ $s.Port }}{{ end }}{{ end }}
          {{- $rpw := .REDIS_PASSWORD -}}
          {{- range $i, $s := nomadService "gewebe-keydb" }}{{ if eq $i 0 }}
          REDIS_URL=redis://:{{ $rpw }}@{{ $s.Address }}:{{ $s.Port }}
          {{- end }}{{ end }}
          {{- end }}
        EOT
      }

      resources {
        # Up to 10,000 sockets, each with its queue of at most 256 frames (most are idle).
        cpu        = 1000
        memory     = 512
        memory_max = 1024
      }
    }
  }
}

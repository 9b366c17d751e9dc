# gewebe-feed: the live feed over Server-Sent Events (no database).
#
#   nomad job plan -var-file=nomad-jobs/prod.vars.hcl nomad-jobs/gewebe-feed.nomad.hcl
#   nomad job run  -check-index <index> -var-file=nomad-jobs/prod.vars.hcl nomad-jobs/gewebe-feed.nomad.hcl
#
# Secrets live in the Nomad Variable nomad/jobs/gewebe-feed (see runbooks/secrets.md):
#   NATS_PASSWORD        password of the NATS user feed
#   REDIS_PASSWORD       KeyDB's requirepass (tickets)
# This job never holds a secret literal; the policy tests in crates/deploy-policy enforce it.

variable "image" {
  type        = string
  description = "gewebe-feed image pinned by digest, e.g. registry.example/gewebe-feed@sha256:<64 hex>."
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
    error_message = "gewebe-feed runs at least two instances so a rollout or a lost node never takes it down."
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

job "gewebe-feed" {
  datacenters = var.datacenters
  type        = "service"

  meta {
    service = "feed"
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

  group "feed" {
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
        to = 8084
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
      name     = "gewebe-feed"
      provider = "nomad"
      port     = "http"
      tags     = ["edge", "route:/feed", "sse"]

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
        BIND_ADDR               = "0.0.0.0:8084"
        HTTP_BODY_LIMIT_BYTES   = "16384"
        HTTP_REQUEST_TIMEOUT_MS = "10000"
        HTTP_CONCURRENCY_LIMIT  = "20000"
        HTTP_RETRY_AFTER_SECS   = "1"
        CORS_ALLOWED_ORIGINS    = ""
        TRUSTED_PROXIES         = var.edge_cidr
        SHUTDOWN_DEADLINE_SECS  = "25"
        READY_CHECK_TIMEOUT_MS  = "1000"
        RUST_LOG                = "info"
        NATS_SUBJECT_PREFIX     = "gewebe"
        REDIS_KEY_PREFIX        = "gewebe:"
        # Every verifier fetches the JWKS through the public origin: Caddy health-checks auth, so a
        # lost auth instance never stalls verification.
        JWKS_URL                         = "https://${var.public_host}/.well-known/jwks.json"
        JWT_ISSUER                       = "gewebe-auth"
        JWT_AUDIENCE                     = "gewebe"
        JWKS_REFRESH_MIN_INTERVAL_SECS   = "30"
        JWKS_CACHE_TTL_SECS              = "300"
        JWT_LEEWAY_SECS                  = "30"
        FEED_KEEPALIVE_SECS              = "15"
        FEED_RETRY_MS                    = "2000"
        FEED_MAX_CONNECTIONS             = "10000"
        FEED_MAX_CONNECTIONS_PER_ACCOUNT = "16"
        FEED_MAX_CELLS                   = "64"
        FEED_BUFFER                      = "4096"
        FEED_TICKET_TTL_SECS             = "30"
        # Anonymous streams per address (IPv6 /64) and instance; TRUSTED_PROXIES must name the edge,
        # or every browser shares Caddy's address.
        FEED_MAX_CONNECTIONS_PER_ADDRESS = "32"
        # A resume replays at most a day back, 30 times a minute per address or account.
        FEED_REPLAY_HORIZON_SECS         = "86400"
        FEED_REPLAY_BUDGET               = "30"
        FEED_REPLAY_WINDOW_SECS          = "60"
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
          {{ with nomadVar "nomad/jobs/gewebe-feed" -}}
          {{- $rpw := .REDIS_PASSWORD -}}
          {{- range $i, $s := nomadService "gewebe-keydb" }}{{ if eq $i 0 -}}
          REDIS_URL=redis://:{{ $rpw }}@{{ $s.Address }}:{{ $s.Port }}
          {{ end }}{{ end -}}
          {{- $npw := .NATS_PASSWORD -}}
          NATS_URL={{ range $i, $s := nomadService "gewebe-nats" }}{{ if eq $i 0 }}nats://feed:{{ $npw }}@{{ $s.Address }}:{{ $s.Port }}{{ end }}{{ end }}
          {{- end }}
        EOT
      }

      resources {
        # 10000 open streams per instance, each with its buffer of up to FEED_BUFFER events.
        cpu        = 1000
        memory     = 1024
        memory_max = 2048
      }
    }
  }
}

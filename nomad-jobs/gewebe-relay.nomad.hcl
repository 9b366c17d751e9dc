# gewebe-relay: the outbox relay, committed outbox rows to JetStream (one leader, standbys wait on the lock).
#
#   nomad job plan -var-file=nomad-jobs/prod.vars.hcl nomad-jobs/gewebe-relay.nomad.hcl
#   nomad job run  -check-index <index> -var-file=nomad-jobs/prod.vars.hcl nomad-jobs/gewebe-relay.nomad.hcl
#
# Secrets live in the Nomad Variable nomad/jobs/gewebe-relay (see runbooks/secrets.md):
#   DATABASE_PASSWORD    password of the PostgreSQL role gewebe_relay (reads every relayed outbox)
#   NATS_PASSWORD        password of the NATS user relay
# This job never holds a secret literal; the policy tests in crates/deploy-policy enforce it.

variable "image" {
  type        = string
  description = "gewebe-relay image pinned by digest, e.g. registry.example/gewebe-relay@sha256:<64 hex>."
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
  default = 2
  validation {
    condition     = var.instances >= 2
    error_message = "gewebe-relay runs at least two instances so a rollout or a lost node never takes it down."
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

job "gewebe-relay" {
  datacenters = var.datacenters
  type        = "service"

  meta {
    service = "relay"
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

  group "relay" {
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
        to = 8086
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
      name     = "gewebe-relay"
      provider = "nomad"
      port     = "http"
      tags     = ["ops"]

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

    # `provision` creates the streams or reports how the existing ones differ from the policy, so a
    # release that changes NATS_STREAM_* shows up in the canary's prestart log.
    task "provision" {
      driver = "docker"

      lifecycle {
        hook    = "prestart"
        sidecar = false
      }

      config {
        image = var.image
        args  = ["provision"]
      }

      # The same configuration as `serve`: the binary parses all of it before any subcommand.
      env {
        BIND_ADDR                     = "0.0.0.0:8086"
        HTTP_BODY_LIMIT_BYTES         = "65536"
        HTTP_REQUEST_TIMEOUT_MS       = "10000"
        HTTP_CONCURRENCY_LIMIT        = "64"
        HTTP_RETRY_AFTER_SECS         = "1"
        CORS_ALLOWED_ORIGINS          = ""
        TRUSTED_PROXIES               = var.edge_cidr
        SHUTDOWN_DEADLINE_SECS        = "25"
        READY_CHECK_TIMEOUT_MS        = "1000"
        RUST_LOG                      = "info"
        DATABASE_MAX_CONNECTIONS      = "5"
        DATABASE_ACQUIRE_TIMEOUT_MS   = "2000"
        DATABASE_STATEMENT_TIMEOUT_MS = "5000"
        NATS_SUBJECT_PREFIX           = "gewebe"
        # Chat and search add their schemas when they land.
        RELAY_SCHEMAS          = "auth,geo"
        RELAY_BATCH_SIZE       = "1000"
        RELAY_POLL_INTERVAL_MS = "1000"
        RELAY_RETENTION_HOURS  = "72"
        RELAY_BACKOFF_MAX_MS   = "10000"
        RELAY_ACK_TIMEOUT_MS   = "5000"
        # The seed's stream policy, production sizes: R3 on the three NATS nodes, 100 GiB.
        NATS_STREAM_REPLICAS               = "3"
        NATS_STREAM_MAX_AGE_DAYS           = "30"
        NATS_STREAM_MAX_BYTES              = "107374182400"
        NATS_STREAM_DUPLICATE_WINDOW_HOURS = "72"
        NATS_STREAM_MAX_MSG_BYTES          = "1048576"
      }

      template {
        destination = "secrets/db.env"
        env         = true
        change_mode = "noop"
        data        = <<-EOT
          {{ with nomadVar "nomad/jobs/gewebe-relay" -}}
          {{- $pw := .DATABASE_PASSWORD -}}
          {{- range $i, $s := nomadService "gewebe-postgres-primary" }}{{ if eq $i 0 -}}
          DATABASE_URL=postgres://gewebe_relay:{{ $pw }}@{{ $s.Address }}:{{ $s.Port }}/gewebe
          DATABASE_DIRECT_URL=postgres://gewebe_relay:{{ $pw }}@{{ $s.Address }}:{{ $s.Port }}/gewebe
          {{ end }}{{ end -}}
          {{- $npw := .NATS_PASSWORD -}}
          NATS_URL={{ range $i, $s := nomadService "gewebe-nats" }}{{ if eq $i 0 }}nats://relay:{{ $npw }}@{{ $s.Address }}:{{ $s.Port }}{{ end }}{{ end }}
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
        BIND_ADDR                     = "0.0.0.0:8086"
        HTTP_BODY_LIMIT_BYTES         = "65536"
        HTTP_REQUEST_TIMEOUT_MS       = "10000"
        HTTP_CONCURRENCY_LIMIT        = "64"
        HTTP_RETRY_AFTER_SECS         = "1"
        CORS_ALLOWED_ORIGINS          = ""
        TRUSTED_PROXIES               = var.edge_cidr
        SHUTDOWN_DEADLINE_SECS        = "25"
        READY_CHECK_TIMEOUT_MS        = "1000"
        RUST_LOG                      = "info"
        DATABASE_MAX_CONNECTIONS      = "5"
        DATABASE_ACQUIRE_TIMEOUT_MS   = "2000"
        DATABASE_STATEMENT_TIMEOUT_MS = "5000"
        NATS_SUBJECT_PREFIX           = "gewebe"
        # Chat and search add their schemas when they land.
        RELAY_SCHEMAS          = "auth,geo"
        RELAY_BATCH_SIZE       = "1000"
        RELAY_POLL_INTERVAL_MS = "1000"
        RELAY_RETENTION_HOURS  = "72"
        RELAY_BACKOFF_MAX_MS   = "10000"
        RELAY_ACK_TIMEOUT_MS   = "5000"
        # The seed's stream policy, production sizes: R3 on the three NATS nodes, 100 GiB.
        NATS_STREAM_REPLICAS               = "3"
        NATS_STREAM_MAX_AGE_DAYS           = "30"
        NATS_STREAM_MAX_BYTES              = "107374182400"
        NATS_STREAM_DUPLICATE_WINDOW_HOURS = "72"
        NATS_STREAM_MAX_MSG_BYTES          = "1048576"
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
          {{ with nomadVar "nomad/jobs/gewebe-relay" -}}
          {{- $pw := .DATABASE_PASSWORD -}}
          {{- range $i, $s := nomadService "gewebe-pgbouncer" }}{{ if eq $i 0 -}}
          DATABASE_URL=postgres://gewebe_relay:{{ $pw }}@{{ $s.Address }}:{{ $s.Port }}/gewebe
          {{ end }}{{ end -}}
          {{- range $i, $s := nomadService "gewebe-postgres-primary" }}{{ if eq $i 0 -}}
          DATABASE_DIRECT_URL=postgres://gewebe_relay:{{ $pw }}@{{ $s.Address }}:{{ $s.Port }}/gewebe
          {{ end }}{{ end -}}
          {{- $npw := .NATS_PASSWORD -}}
          NATS_URL={{ range $i, $s := nomadService "gewebe-nats" }}{{ if eq $i 0 }}nats://relay:{{ $npw }}@{{ $s.Address }}:{{ $s.Port }}{{ end }}{{ end }}
          {{- end }}
        EOT
      }

      resources {
        # One batch of RELAY_BATCH_SIZE rows in flight.
        cpu        = 500
        memory     = 256
        memory_max = 512
      }
    }
  }
}

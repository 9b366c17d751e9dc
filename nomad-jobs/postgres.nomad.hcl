# PostgreSQL 15 + PostGIS: the source of truth. Two groups, "a" and "b", one per database node,
# each on its own host volume. var.primary names the group that runs as primary; the other one is a
# hot standby that streams WAL from it (physical replication slot) and falls back to the WAL archive.
# Every WAL segment is archived to object storage with WAL-G, so a lost node or a bad migration can
# be recovered to a point in time (runbooks/incident-database.md).
#
# Failover (runbooks/incident-database.md): promote the standby with
#   nomad alloc exec -task postgres <standby alloc> pg_ctl promote -D /var/lib/postgresql/data/pgdata
# then `nomad job run -var primary=<other group> ...`: the service names swap in place (no
# restart), and the former primary comes back as a standby through pg_rewind in its prestart task.
#
# Secrets: nomad/jobs/gewebe-postgres
#   POSTGRES_PASSWORD      the superuser's password (first start only)
#   REPLICATION_PASSWORD   role `replicator`
#   WALG_S3_PREFIX, AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY, AWS_ENDPOINT   the WAL archive bucket
#
# The image is postgis/postgis:15-3.x with WAL-G added (built and signed by CI like the services).

variable "image" {
  type        = string
  description = "PostGIS 15 image with wal-g, pinned by digest."
  validation {
    condition     = can(regex("^[a-z0-9./_-]+(:[A-Za-z0-9._-]+)?@sha256:[0-9a-f]{64}$", var.image))
    error_message = "image must be pinned by digest: name@sha256:<64 hex>."
  }
}

variable "datacenters" {
  type    = list(string)
  default = ["fsn1"]
}

variable "primary" {
  type        = string
  description = "Which group runs as primary: a or b."
  default     = "a"
  validation {
    condition     = contains(["a", "b"], var.primary)
    error_message = "primary is a or b."
  }
}

variable "private_cidr" {
  type    = string
  default = "10.0.0.0/16"
}

locals {
  # postgresql.conf shared by both roles; a standby ignores the primary-only settings.
  postgresql_conf = <<-EOT
    listen_addresses = '*'
    port = 5432
    max_connections = 300
    password_encryption = scram-sha-256
    shared_buffers = 2GB
    effective_cache_size = 6GB
    work_mem = 16MB
    maintenance_work_mem = 512MB
    # A statement the services forgot to bound is cut off here at the latest; they set 5 s themselves.
    statement_timeout = 60s
    idle_in_transaction_session_timeout = 60s
    wal_level = replica
    max_wal_senders = 10
    max_replication_slots = 10
    wal_keep_size = 4GB
    max_slot_wal_keep_size = 64GB
    hot_standby = on
    hot_standby_feedback = on
    archive_mode = on
    archive_timeout = 60s
    archive_command = 'wal-g wal-push %p'
    restore_command = 'wal-g wal-fetch %f %p'
    # Asynchronous replication on purpose: with one standby, synchronous commit would stall every
    # write whenever the standby restarts. The price is an RPO of the replication lag at failover
    # (alert PostgresReplicationLagHigh at 10 s; the outbox rows of lost commits are lost with them,
    # so this is not covered by the relay's replay). Commits are durable on the primary's disk.
    synchronous_commit = on
    synchronous_standby_names = ''
    # pg_rewind needs this to bring a former primary back as a standby.
    wal_log_hints = on
    log_destination = 'stderr'
    log_line_prefix = '%m [%p] %q%u@%d '
    log_min_duration_statement = 1000
    log_lock_waits = on
    shared_preload_libraries = 'pg_stat_statements'
  EOT
}

job "gewebe-postgres" {
  datacenters = var.datacenters
  type        = "service"

  update {
    # Never two database restarts at once, never automatically promoted: an SRE watches each step.
    max_parallel      = 1
    health_check      = "checks"
    min_healthy_time  = "30s"
    healthy_deadline  = "10m"
    progress_deadline = "20m"
    auto_revert       = false
  }

  dynamic "group" {
    for_each = ["a", "b"]
    labels   = [group.value]

    content {
      count = 1

      constraint {
        attribute = "${meta.gewebe_role}"
        value     = "db"
      }

      constraint {
        attribute = "${meta.gewebe_db_slot}"
        value     = group.value
      }

      volume "data" {
        type      = "host"
        source    = "pg-data"
        read_only = false
      }

      network {
        port "pg" {
          static = 5432
        }
        port "metrics" {
          to = 9187
        }
      }

      restart {
        attempts = 2
        interval = "10m"
        delay    = "30s"
        mode     = "delay"
      }

      # A database is pinned to its volume: never rescheduled elsewhere by Nomad.
      reschedule {
        attempts  = 0
        unlimited = false
      }

      service {
        name     = var.primary == group.value ? "gewebe-postgres-primary" : "gewebe-postgres-replica"
        provider = "nomad"
        port     = "pg"
        tags     = ["postgres", "slot-${group.value}"]

        check {
          name     = "tcp"
          type     = "tcp"
          interval = "10s"
          timeout  = "2s"
        }
      }

      service {
        name     = "gewebe-postgres-exporter"
        provider = "nomad"
        port     = "metrics"
        tags     = ["prometheus", "slot-${group.value}"]

        check {
          name     = "metrics"
          type     = "http"
          path     = "/metrics"
          interval = "30s"
          timeout  = "5s"
        }
      }

      # Makes this node's data directory match its role before PostgreSQL starts: an empty standby
      # is cloned from the primary (pg_basebackup with a slot), a former primary is rewound onto the
      # new timeline (pg_rewind) and gets standby.signal.
      task "bootstrap" {
        driver = "docker"
        user   = "postgres"

        lifecycle {
          hook    = "prestart"
          sidecar = false
        }

        volume_mount {
          volume      = "data"
          destination = "/var/lib/postgresql/data"
        }

        config {
          image   = var.image
          command = "/bin/bash"
          args    = ["/local/bootstrap.sh"]
        }

        env {
          ROLE       = var.primary == group.value ? "primary" : "standby"
          SLOT       = "standby_${group.value}"
          PGDATA     = "/var/lib/postgresql/data/pgdata"
          PGPASSFILE = "/secrets/pgpass"
        }

        template {
          destination = "secrets/pgpass"
          perms       = "0600"
          change_mode = "noop"
          data        = <<-EOT
            {{ with nomadVar "nomad/jobs/gewebe-postgres" }}*:5432:*:replicator:{{ .REPLICATION_PASSWORD }}{{ end }}
          EOT
        }

        template {
          destination = "local/primary.env"
          env         = true
          change_mode = "noop"
          data        = <<-EOT
            {{ range nomadService "gewebe-postgres-primary" }}PRIMARY_HOST={{ .Address }}{{ end }}
          EOT
        }

        template {
          destination = "local/bootstrap.sh"
          change_mode = "noop"
          data        = <<-EOT
            set -euo pipefail
            if [ "$ROLE" = primary ]; then
              # A promoted standby keeps running as primary once standby.signal is gone (pg_ctl promote removes it).
              rm -f "$PGDATA/standby.signal"
              exit 0
            fi
            if [ -z "$${PRIMARY_HOST:-}" ]; then echo "no primary registered yet" >&2; exit 1; fi
            if [ ! -s "$PGDATA/PG_VERSION" ]; then
              pg_basebackup -h "$PRIMARY_HOST" -U replicator -D "$PGDATA" -X stream -C -S "$SLOT" -R --checkpoint=fast
            elif [ ! -f "$PGDATA/standby.signal" ]; then
              pg_rewind --target-pgdata="$PGDATA" --source-server="host=$PRIMARY_HOST user=replicator dbname=postgres" --write-recovery-conf
            fi
            touch "$PGDATA/standby.signal"
          EOT
        }

        resources {
          cpu        = 500
          memory     = 256
          memory_max = 512
        }
      }

      task "postgres" {
        driver = "docker"

        # A fast shutdown ends client sessions and checkpoints; give the checkpoint time.
        kill_signal  = "SIGINT"
        kill_timeout = "120s"

        volume_mount {
          volume      = "data"
          destination = "/var/lib/postgresql/data"
        }

        config {
          image = var.image
          ports = ["pg"]
          args  = ["postgres", "-c", "config_file=/local/postgresql.conf", "-c", "hba_file=/local/pg_hba.conf"]
        }

        env {
          PGDATA = "/var/lib/postgresql/data/pgdata"
        }

        template {
          destination   = "local/postgresql.conf"
          change_mode   = "signal"
          change_signal = "SIGHUP"
          data          = local.postgresql_conf
        }

        template {
          destination   = "local/pg_hba.conf"
          change_mode   = "signal"
          change_signal = "SIGHUP"
          data          = <<-EOT
            local all all peer
            host  all all 127.0.0.1/32 scram-sha-256
            host  replication replicator ${var.private_cidr} scram-sha-256
            host  all all ${var.private_cidr} scram-sha-256
          EOT
        }

        template {
          destination = "secrets/db.env"
          env         = true
          change_mode = "noop"
          data        = <<-EOT
            {{ with nomadVar "nomad/jobs/gewebe-postgres" -}}
            POSTGRES_PASSWORD={{ .POSTGRES_PASSWORD }}
            WALG_S3_PREFIX={{ .WALG_S3_PREFIX }}
            AWS_ACCESS_KEY_ID={{ .AWS_ACCESS_KEY_ID }}
            AWS_SECRET_ACCESS_KEY={{ .AWS_SECRET_ACCESS_KEY }}
            AWS_ENDPOINT={{ .AWS_ENDPOINT }}
            {{- end }}
          EOT
        }

        resources {
          cpu        = 4000
          memory     = 8192
          memory_max = 12288
        }
      }

      task "exporter" {
        driver = "docker"

        lifecycle {
          hook    = "poststart"
          sidecar = true
        }

        config {
          image = var.exporter_image
          ports = ["metrics"]
        }

        template {
          destination = "secrets/exporter.env"
          env         = true
          change_mode = "restart"
          data        = <<-EOT
            {{ with nomadVar "nomad/jobs/gewebe-postgres" -}}
            DATA_SOURCE_NAME=postgresql://postgres_exporter:{{ .EXPORTER_PASSWORD }}@{{ env "NOMAD_HOST_IP_pg" }}:5432/postgres?sslmode=disable
            {{- end }}
          EOT
        }

        resources {
          cpu        = 100
          memory     = 64
          memory_max = 128
        }
      }
    }
  }
}

variable "exporter_image" {
  type        = string
  description = "prometheus-community/postgres-exporter, pinned by digest."
  validation {
    condition     = can(regex("^[a-z0-9./_-]+(:[A-Za-z0-9._-]+)?@sha256:[0-9a-f]{64}$", var.exporter_image))
    error_message = "exporter_image must be pinned by digest: name@sha256:<64 hex>."
  }
}

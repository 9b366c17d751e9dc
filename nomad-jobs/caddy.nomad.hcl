# The edge: Caddy on every edge node (meta.gewebe_role = "edge"), behind the Hetzner load balancer
# (TCP 80/443 with the PROXY protocol) and directly reachable on UDP 443 for HTTP/3.
#
# Run from the repository root: the Caddyfile and its snippets are read from caddy/ with file().
#   nomad job run -var-file=... nomad-jobs/caddy.nomad.hcl
#
# Upstreams come from Nomad's service catalogue (caddy/edge-upstreams.tpl with nomadService). A
# change re-renders upstreams.caddy and runs `caddy reload`: a graceful config swap, in which
# WebSocket and SSE connections stay open for stream_close_delay (5 min) instead of being cut.
#
# Secrets: nomad/jobs/gewebe-caddy
#   HETZNER_DNS_API_TOKEN   DNS-01 challenge for the origin's certificate

variable "image" {
  type        = string
  description = "Caddy >= 2.7 with caddy-dns/hetzner, pinned by digest (built and signed by CI)."
  validation {
    condition     = can(regex("^[a-z0-9./_-]+(:[A-Za-z0-9._-]+)?@sha256:[0-9a-f]{64}$", var.image))
    error_message = "image must be pinned by digest: name@sha256:<64 hex>."
  }
}

variable "web_image" {
  type        = string
  description = "The PWA's static build (files under /web), pinned by digest."
  validation {
    condition     = can(regex("^[a-z0-9./_-]+(:[A-Za-z0-9._-]+)?@sha256:[0-9a-f]{64}$", var.web_image))
    error_message = "web_image must be pinned by digest: name@sha256:<64 hex>."
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
    error_message = "At least two edge nodes: a rollout or a lost node must not take the origin down."
  }
}

variable "public_host" {
  type = string
}

variable "acme_email" {
  type = string
}

variable "lb_cidr" {
  type        = string
  description = "Private range the load balancer connects from (PROXY protocol is only believed from it)."
  default     = "10.0.0.0/16"
}

job "gewebe-caddy" {
  datacenters = var.datacenters
  type        = "service"

  update {
    max_parallel      = 1
    canary            = 1
    auto_promote      = true
    auto_revert       = true
    health_check      = "checks"
    min_healthy_time  = "20s"
    healthy_deadline  = "3m"
    progress_deadline = "10m"
  }

  group "edge" {
    count = var.instances

    # Between deregistering the group's services (Caddy's upstream template drops the instance)
    # and SIGTERM: no new requests arrive while the task drains.
    shutdown_delay = "10s"

    constraint {
      attribute = "${meta.gewebe_role}"
      value     = "edge"
    }

    constraint {
      distinct_hosts = true
    }

    spread {
      attribute = "${node.unique.id}"
    }

    volume "data" {
      type   = "host"
      source = "caddy-data"
    }

    network {
      port "http" {
        static = 80
      }
      port "https" {
        static = 443
      }
      port "metrics" {
        static = 9180
      }
    }

    restart {
      attempts = 5
      interval = "5m"
      delay    = "10s"
      mode     = "delay"
    }

    reschedule {
      delay          = "30s"
      delay_function = "exponential"
      max_delay      = "10m"
      unlimited      = true
    }

    service {
      name     = "gewebe-caddy"
      provider = "nomad"
      port     = "https"
      tags     = ["edge"]

      check {
        name     = "https"
        type     = "tcp"
        interval = "10s"
        timeout  = "2s"
      }
    }

    service {
      name     = "gewebe-caddy-metrics"
      provider = "nomad"
      port     = "metrics"
      tags     = ["prometheus"]

      check {
        name     = "metrics"
        type     = "http"
        path     = "/metrics"
        interval = "15s"
        timeout  = "2s"
      }
    }

    # Copies the PWA build into the allocation, where Caddy serves it.
    task "web" {
      driver = "docker"

      lifecycle {
        hook    = "prestart"
        sidecar = false
      }

      config {
        image   = var.web_image
        command = "/bin/sh"
        args    = ["-c", "rm -rf /alloc/data/web && cp -a /web /alloc/data/web"]
      }

      resources {
        cpu        = 100
        memory     = 64
        memory_max = 128
      }
    }

    task "caddy" {
      driver = "docker"

      # The load balancer's health check sees the node go first; then Caddy finishes requests.
      kill_timeout   = "60s"

      volume_mount {
        volume      = "data"
        destination = "/data"
      }

      config {
        image        = var.image
        network_mode = "host"
        args         = ["caddy", "run", "--config", "/local/Caddyfile", "--adapter", "caddyfile"]
      }

      env {
        GEWEBE_SITE       = var.public_host
        GEWEBE_ACME_EMAIL = var.acme_email
        GEWEBE_LB_CIDR    = var.lb_cidr
        GEWEBE_WEB_ROOT   = "/alloc/data/web"
        # The admin API can change the config: loopback only (the reload script runs on the node).
        GEWEBE_CADDY_ADMIN  = "127.0.0.1:2019"
        GEWEBE_METRICS_ADDR = "${NOMAD_IP_metrics}:9180"
        XDG_DATA_HOME       = "/data"
        XDG_CONFIG_HOME     = "/data/config"
      }

      template {
        destination = "local/Caddyfile"
        data        = file("caddy/edge.Caddyfile")
        # Caddy placeholders use single braces; nothing in the file is a Go template action.
        left_delimiter  = "[[["
        right_delimiter = "]]]"
        change_mode     = "script"
        change_script {
          command       = "/usr/bin/caddy"
          args          = ["reload", "--config", "/local/Caddyfile", "--adapter", "caddyfile", "--address", "127.0.0.1:2019"]
          timeout       = "20s"
          fail_on_error = false
        }
      }

      template {
        destination     = "local/common.caddy"
        data            = file("caddy/common.caddy")
        left_delimiter  = "[[["
        right_delimiter = "]]]"
        change_mode     = "script"
        change_script {
          command = "/usr/bin/caddy"
          args    = ["reload", "--config", "/local/Caddyfile", "--adapter", "caddyfile", "--address", "127.0.0.1:2019"]
          timeout = "20s"
        }
      }

      template {
        destination     = "local/tls.caddy"
        data            = file("caddy/tls-acme-dns.caddy")
        left_delimiter  = "[[["
        right_delimiter = "]]]"
        change_mode     = "noop"
      }

      template {
        destination = "local/upstreams.caddy"
        data        = file("caddy/edge-upstreams.tpl")
        # Many instances moving at once (a rollout) become one reload, not one per change; max stays
        # below the services' shutdown_delay (10 s), so a stopping instance is dropped before SIGTERM.
        wait {
          min = "1s"
          max = "5s"
        }
        change_mode = "script"
        change_script {
          command       = "/usr/bin/caddy"
          args          = ["reload", "--config", "/local/Caddyfile", "--adapter", "caddyfile", "--address", "127.0.0.1:2019"]
          timeout       = "20s"
          fail_on_error = false
        }
      }

      template {
        destination = "secrets/dns.env"
        env         = true
        change_mode = "restart"
        data        = <<-EOT
          {{ with nomadVar "nomad/jobs/gewebe-caddy" }}HETZNER_DNS_API_TOKEN={{ .HETZNER_DNS_API_TOKEN }}{{ end }}
        EOT
      }

      resources {
        cpu        = 2000
        memory     = 512
        memory_max = 1024
      }
    }
  }
}

#!/usr/bin/env bash
# A real WordPress on 127.0.0.1 for Joinery's tests: Debian's wordpress,
# php-cli and mariadb-server, a private MariaDB (own datadir and socket),
# PHP's built-in server with several workers, seeded content.
#
#   wp.sh install                 install the Debian packages if missing
#   wp.sh start [--dir DIR]       start (installing and seeding on first use); writes DIR/env
#   wp.sh stop  [--dir DIR]       stop every process it started
#   wp.sh reset [--dir DIR]       stop and remove DIR
#   wp.sh php FILE [--dir DIR]    run a PHP file inside WordPress (wp-load.php loaded)
set -euo pipefail

cmd=${1:-}; [ $# -gt 0 ] && shift
DIR=${WP_DIR:-/tmp/joinery-wp}
ARG=""
while [ $# -gt 0 ]; do
  case $1 in
    --dir) DIR=$2; shift 2 ;;
    *) ARG=$1; shift ;;
  esac
done
SITE=$DIR/site RUN=$DIR/run LOGS=$DIR/logs
SOCK=$RUN/mysqld.sock
POSTS=${WP_SEED_POSTS:-1050}

log() { echo "wp.sh: $*" >&2; }

install() {
  # Test binaries start WordPress in parallel; only one may run apt at a time.
  # The lock is held by a subshell's descriptor, never by this shell's: the
  # servers started later would inherit it and hold it for as long as they
  # run, blocking every other start.
  (
    flock 9
    local need=()
    for p in wordpress php-cli php-mysql mariadb-server; do
      [ "$(dpkg-query -W -f='${Status}' "$p" 2>/dev/null)" = "install ok installed" ] || need+=("$p")
    done
    [ ${#need[@]} -eq 0 ] && exit 0
    log "installing ${need[*]}"
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need[@]}" >/dev/null
  ) 9>"${TMPDIR:-/tmp}/joinery-wp-install.lock"
}

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }

alive() { [ -f "$1" ] && kill -0 "$(cat "$1")" 2>/dev/null; }

start_db() {
  if alive "$RUN/mysqld.pid" && mariadb-admin --no-defaults -S "$SOCK" -uroot ping >/dev/null 2>&1; then return 0; fi
  if [ ! -d "$DIR/db/mysql" ]; then
    log "creating the database in $DIR/db"
    mariadb-install-db --no-defaults --datadir="$DIR/db" --user=root --auth-root-authentication-method=socket --skip-test-db >"$LOGS/db-install.log" 2>&1
  fi
  # A socket or pid file left by a killed server would pass for a live one.
  rm -f "$SOCK" "$RUN/mysqld.pid"
  setsid mariadbd --no-defaults --datadir="$DIR/db" --socket="$SOCK" --pid-file="$RUN/mysqld.pid" --skip-networking \
    --user=root --log-error="$LOGS/mariadb.log" --innodb-flush-log-at-trx-commit=2 >/dev/null 2>&1 &
  local pid=$!
  # The socket appears before the server accepts connections: ask it.
  for _ in $(seq 600); do
    mariadb-admin --no-defaults -S "$SOCK" -uroot ping >/dev/null 2>&1 && break
    kill -0 "$pid" 2>/dev/null || { log "MariaDB exited while starting:"; tail -n 20 "$LOGS/mariadb.log" >&2; exit 1; }
    sleep 0.1
  done
  mariadb-admin --no-defaults -S "$SOCK" -uroot ping >/dev/null 2>&1 || { log "MariaDB did not answer within 60 s:"; tail -n 20 "$LOGS/mariadb.log" >&2; exit 1; }
  echo "$pid" >"$RUN/mysqld.pid"
  mariadb --no-defaults -S "$SOCK" -uroot -e "CREATE DATABASE IF NOT EXISTS wordpress CHARACTER SET utf8mb4"
}

write_site() {
  [ -f "$SITE/wp-load.php" ] && return 0
  log "copying WordPress into $SITE"
  cp -rL /usr/share/wordpress "$SITE" 2>/dev/null || cp -r /usr/share/wordpress "$SITE"
  rm -f "$SITE/.htaccess"
  mkdir -p "$SITE/wp-content/uploads"
  cat >"$SITE/wp-config.php" <<PHP
<?php
define('DB_NAME', 'wordpress');
define('DB_USER', 'root');
define('DB_PASSWORD', '');
define('DB_HOST', 'localhost:$SOCK');
define('DB_CHARSET', 'utf8mb4');
define('DB_COLLATE', '');
define('WP_ENVIRONMENT_TYPE', 'local'); // Application Passwords over plain http
define('AUTH_KEY', 'joinery-test'); define('SECURE_AUTH_KEY', 'joinery-test'); define('LOGGED_IN_KEY', 'joinery-test'); define('NONCE_KEY', 'joinery-test');
define('AUTH_SALT', 'joinery-test'); define('SECURE_AUTH_SALT', 'joinery-test'); define('LOGGED_IN_SALT', 'joinery-test'); define('NONCE_SALT', 'joinery-test');
define('WP_HOME', 'http://' . (\$_SERVER['HTTP_HOST'] ?? '127.0.0.1'));
define('WP_SITEURL', WP_HOME);
define('DISABLE_WP_CRON', true);
define('AUTOMATIC_UPDATER_DISABLED', true);
define('FS_METHOD', 'direct');
\$table_prefix = 'wp_';
if (!defined('ABSPATH')) define('ABSPATH', __DIR__ . '/');
require_once ABSPATH . 'wp-settings.php';
PHP
  # Pretty permalinks: static files as they are, everything else to index.php.
  cat >"$SITE/router.php" <<'PHP'
<?php
$path = parse_url($_SERVER['REQUEST_URI'], PHP_URL_PATH);
if ($path !== '/' && is_file(__DIR__ . $path)) return false;
$_SERVER['SCRIPT_NAME'] = '/index.php';
$_SERVER['SCRIPT_FILENAME'] = __DIR__ . '/index.php';
require __DIR__ . '/index.php';
PHP
  # A server that does not route /wp-json/ (like Apache without rewrites):
  # clients must fall back to ?rest_route=.
  cat >"$SITE/router-plain.php" <<'PHP'
<?php
$path = parse_url($_SERVER['REQUEST_URI'], PHP_URL_PATH);
if (strncmp($path, '/wp-json', 8) === 0) { http_response_code(404); header('Content-Type: text/html'); echo '<html><body>Not Found</body></html>'; return true; }
if ($path !== '/' && is_file(__DIR__ . $path)) return false;
$_SERVER['SCRIPT_NAME'] = '/index.php';
$_SERVER['SCRIPT_FILENAME'] = __DIR__ . '/index.php';
require __DIR__ . '/index.php';
PHP
}

seed() {
  [ -f "$DIR/seeded" ] && return 0
  log "installing the site and seeding $POSTS posts"
  cat >"$DIR/seed.php" <<'PHP'
<?php
define('WP_INSTALLING', true);
$_SERVER['HTTP_HOST'] = '127.0.0.1';
require $argv[1] . '/wp-load.php';
require_once ABSPATH . 'wp-admin/includes/upgrade.php';
$posts = (int) $argv[2];
wp_install('Joinery Test Site', 'admin', 'admin@example.com', true, '', 'admin-login-password');
update_option('permalink_structure', '/%postname%/');
update_option('timezone_string', 'Asia/Kathmandu'); // a non-UTC, non-whole-hour zone
$author = wp_insert_user(['user_login' => 'author', 'user_pass' => 'author-login-password', 'user_email' => 'author@example.com', 'role' => 'author', 'display_name' => 'Ada Author']);
$admin = get_user_by('login', 'admin')->ID;
list($adminPass) = WP_Application_Passwords::create_new_application_password($admin, ['name' => 'joinery-tests']);
list($authorPass) = WP_Application_Passwords::create_new_application_password($author, ['name' => 'joinery-tests']);
$cats = [];
foreach (['News', 'Café ☕', 'Technology', '日本語'] as $c) { $cats[] = wp_insert_term($c, 'category')['term_id']; }
$tags = [];
foreach (['go', 'aws', 'émoji 🎉', 'wordpress', 'sync'] as $t) { $tags[] = wp_insert_term($t, 'post_tag')['term_id']; }
wp_defer_term_counting(true);
$statuses = ['publish' => 0];
$base = time() - 30 * 86400;
for ($i = 1; $i <= $posts; $i++) {
  $status = 'publish';
  if ($i % 50 === 0) $status = 'draft'; elseif ($i % 71 === 0) $status = 'pending'; elseif ($i % 97 === 0) $status = 'private';
  $when = gmdate('Y-m-d H:i:s', $base + $i * 60);
  $title = ($i % 10 === 0) ? "Café ☕ 日本語 — emoji 🎉 #$i" : "Seeded post $i";
  $id = wp_insert_post(['post_title' => $title, 'post_content' => "<p>Body of post $i.</p>", 'post_excerpt' => "Excerpt $i",
    'post_status' => $status, 'post_author' => ($i % 3 === 0) ? $author : $admin, 'post_date_gmt' => $when,
    'post_category' => [$cats[$i % count($cats)]], 'tags_input' => [$tags[$i % count($tags)]]], true);
  if (is_wp_error($id)) { fwrite(STDERR, $id->get_error_message() . "\n"); exit(1); }
  $statuses[$status] = ($statuses[$status] ?? 0) + 1;
}
// A future post and a few in the trash.
wp_insert_post(['post_title' => 'Scheduled post', 'post_status' => 'future', 'post_date_gmt' => gmdate('Y-m-d H:i:s', time() + 86400 * 30), 'post_author' => $admin]);
$q = get_posts(['numberposts' => 3, 'post_status' => 'publish', 'orderby' => 'ID', 'order' => 'ASC', 'fields' => 'ids']);
foreach ($q as $id) wp_trash_post($id);
wp_defer_term_counting(false);
for ($i = 1; $i <= 5; $i++) wp_insert_post(['post_type' => 'page', 'post_title' => "Page $i", 'post_status' => 'publish', 'post_content' => "Page $i"]);
global $wpdb;
$total = (int) $wpdb->get_var("SELECT COUNT(*) FROM $wpdb->posts WHERE post_type = 'post' AND post_status IN ('publish','future','draft','pending','private','trash')");
echo "WP_ADMIN_APP_PASSWORD=$adminPass\nWP_AUTHOR_APP_PASSWORD=$authorPass\nWP_POSTS_TOTAL=$total\n";
PHP
  php "$DIR/seed.php" "$SITE" "$POSTS" >"$DIR/seed.env" 2>"$LOGS/seed.log" || { log "seeding failed; see $LOGS/seed.log"; cat "$LOGS/seed.log" >&2; exit 1; }
  touch "$DIR/seeded"
}

start_http() {
  local name=$1 router=$2 port
  if alive "$RUN/$name.pid"; then cat "$RUN/$name.port"; return 0; fi
  port=$(free_port)
  # OPcache checks files for changes on every request, not every 2 s: tests
  # write must-use plugins and expect the next request to see them.
  PHP_CLI_SERVER_WORKERS=4 nohup php -d opcache.revalidate_freq=0 -S "127.0.0.1:$port" -t "$SITE" "$SITE/$router" >"$LOGS/$name.log" 2>&1 &
  echo $! >"$RUN/$name.pid"
  echo "$port" >"$RUN/$name.port"
  echo "$port"
}

wait_http() {
  for _ in $(seq 600); do
    curl -fsS -o /dev/null "$1" 2>/dev/null && return 0
    sleep 0.1
  done
  log "$1 does not answer within 60 s:"; tail -n 20 "$LOGS"/*.log >&2; exit 1
}

start() {
  install
  mkdir -p "$DIR" "$RUN" "$LOGS"
  DIR=$(cd "$DIR" && pwd) SITE=$DIR/site RUN=$DIR/run LOGS=$DIR/logs SOCK=$DIR/run/mysqld.sock
  start_db
  write_site
  seed
  local p1 p2
  p1=$(start_http pretty router.php)
  p2=$(start_http plain router-plain.php)
  wait_http "http://127.0.0.1:$p1/wp-json/"
  wait_http "http://127.0.0.1:$p2/?rest_route=/"
  { echo "WP_URL=http://127.0.0.1:$p1"; echo "WP_URL_NOPRETTY=http://127.0.0.1:$p2"
    echo "WP_ADMIN_USER=admin"; echo "WP_AUTHOR_USER=author"; cat "$DIR/seed.env"
    echo "WP_DIR=$DIR"; echo "WP_DB_SOCKET=$SOCK"; } >"$DIR/env"
  cat "$DIR/env"
}

stop() {
  for f in "$RUN"/pretty.pid "$RUN"/plain.pid "$RUN"/mysqld.pid; do
    if alive "$f"; then
      pid=$(cat "$f"); pkill -P "$pid" 2>/dev/null || true; kill "$pid" 2>/dev/null || true
      for _ in $(seq 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
      kill -9 "$pid" 2>/dev/null || true
    fi
    rm -f "$f"
  done
}

case $cmd in
  install) install ;;
  start) start ;;
  stop) stop ;;
  reset) stop; rm -rf "$DIR" ;;
  php) [ -n "$ARG" ] || { log "php FILE"; exit 2; }; HTTP_HOST=127.0.0.1 php -d auto_prepend_file= -r '$_SERVER["HTTP_HOST"]="127.0.0.1"; require $argv[1] . "/wp-load.php"; require $argv[2];' "$SITE" "$ARG" ;;
  *) sed -n '2,11p' "$0"; exit 2 ;;
esac

<?php
/**
 * The delivery queue: changes wait here until Joinery has acknowledged them.
 *
 * @package Joinery
 */

if ( ! defined( 'ABSPATH' ) ) {
	exit;
}

/**
 * A bounded queue of deliveries in its own table, sent with Standard Webhooks
 * signatures after the response is flushed, or by WP-Cron.
 *
 * A table, not an option: saves in concurrent requests each insert a row, so
 * none is lost to another request's read-modify-write.
 */
class Joinery_Queue {

	/** Deliveries kept at most; the oldest are dropped (and counted) first. */
	const LIMIT = 1000;

	/** Seconds to wait for Joinery to answer one delivery. */
	const TIMEOUT = 5;

	/** Longest wait between two attempts after failures, in seconds. */
	const MAX_BACKOFF = 60;

	/** Seconds one WP-Cron run may spend sending before it leaves the rest to the next. */
	const RUN_BUDGET = 20;

	/** Seconds a request may keep sending after its response went out. */
	const SHUTDOWN_BUDGET = 10;

	/** Rows read at a time. */
	const BATCH = 100;

	const CRON_HOOK  = 'joinery_send_queue';
	const DB_VERSION = '1';

	/**
	 * Whether this request queued something (then it sends on shutdown).
	 *
	 * @var bool
	 */
	private static $queued = false;

	/**
	 * The queue's table name.
	 *
	 * @return string
	 */
	public static function table() {
		global $wpdb;
		return $wpdb->prefix . 'joinery_queue';
	}

	/**
	 * Creates or upgrades the table (on activation and after an update).
	 */
	public static function install() {
		global $wpdb;
		require_once ABSPATH . 'wp-admin/includes/upgrade.php';
		$table   = self::table();
		$charset = $wpdb->get_charset_collate();
		dbDelta(
			"CREATE TABLE {$table} (
  id bigint(20) unsigned NOT NULL AUTO_INCREMENT,
  delivery_id varchar(64) NOT NULL,
  action varchar(20) NOT NULL,
  post_id bigint(20) unsigned NOT NULL,
  post_type varchar(20) NOT NULL,
  queued_at bigint(20) unsigned NOT NULL,
  PRIMARY KEY  (id),
  KEY post_id (post_id)
) {$charset};"
		);
		update_option( 'joinery_db_version', self::DB_VERSION, false );
		// Read on every request: present and autoloaded, so reading them
		// costs no query.
		foreach ( array( 'joinery_pending', 'joinery_integration_id', 'joinery_webhook_url' ) as $option ) {
			add_option( $option, '' );
		}
	}

	/**
	 * Installs the table when the plugin was updated without reactivation.
	 */
	public static function maybe_upgrade() {
		if ( get_option( 'joinery_db_version' ) !== self::DB_VERSION ) {
			self::install();
		}
	}

	/**
	 * Removes the plugin's scheduled events.
	 */
	public static function unschedule() {
		wp_clear_scheduled_hook( self::CRON_HOOK );
		wp_clear_scheduled_hook( Joinery_Connection::STRUCTURE_HOOK );
	}

	/**
	 * Hooks the senders.
	 */
	public static function register() {
		add_action( self::CRON_HOOK, array( __CLASS__, 'send' ) );
		// Late: other shutdown work (and its output) comes first.
		add_action( 'shutdown', array( __CLASS__, 'send_on_shutdown' ), 1000 );
		add_action( 'wp_loaded', array( __CLASS__, 'heal' ) );
	}

	/**
	 * Schedules the sender again when deliveries wait and no send is
	 * scheduled: two requests writing WordPress's cron option at once can
	 * lose an event. Reads only autoloaded options, so it costs no query.
	 */
	public static function heal() {
		if ( ! get_option( 'joinery_pending' ) || false !== wp_next_scheduled( self::CRON_HOOK ) ) {
			return;
		}
		self::schedule( max( time(), (int) get_option( 'joinery_next_attempt', 0 ) ) );
	}

	/**
	 * Queues one change of a post.
	 *
	 * @param string $action    post_created, post_updated, post_trashed, post_untrashed or post_deleted.
	 * @param int    $post_id   The post's ID.
	 * @param string $post_type The post's type.
	 */
	public static function push( $action, $post_id, $post_type ) {
		global $wpdb;
		$table = self::table();
		// phpcs:ignore WordPress.DB.DirectDatabaseQuery.DirectQuery -- the queue's own table.
		$wpdb->insert(
			$table,
			array(
				'delivery_id' => 'msg_' . str_replace( '-', '', wp_generate_uuid4() ),
				'action'      => $action,
				'post_id'     => (int) $post_id,
				'post_type'   => substr( $post_type, 0, 20 ),
				'queued_at'   => time(),
			),
			array( '%s', '%s', '%d', '%s', '%d' )
		);
		// phpcs:ignore WordPress.DB.DirectDatabaseQuery.DirectQuery,WordPress.DB.DirectDatabaseQuery.NoCaching,WordPress.DB.PreparedSQL.InterpolatedNotPrepared -- the table name is ours.
		$over = (int) $wpdb->get_var( "SELECT COUNT(*) FROM {$table}" ) - self::LIMIT;
		if ( $over > 0 ) {
			// phpcs:ignore WordPress.DB.DirectDatabaseQuery.DirectQuery,WordPress.DB.DirectDatabaseQuery.NoCaching,WordPress.DB.PreparedSQL.InterpolatedNotPrepared -- the table name is ours.
			$dropped = (int) $wpdb->query( $wpdb->prepare( "DELETE FROM {$table} ORDER BY id ASC LIMIT %d", $over ) );
			if ( $dropped > 0 ) {
				update_option( 'joinery_dropped', (int) get_option( 'joinery_dropped', 0 ) + $dropped, false );
			}
		}
		self::$queued = true;
		// Always written (the value changes): another request's stale copy
		// must not make this one skip it.
		update_option( 'joinery_pending', microtime( true ) );
		self::schedule( max( time(), (int) get_option( 'joinery_next_attempt', 0 ) ) );
	}

	/**
	 * How many deliveries wait.
	 *
	 * @return int
	 */
	public static function length() {
		global $wpdb;
		$table = self::table();
		// phpcs:ignore WordPress.DB.DirectDatabaseQuery.DirectQuery,WordPress.DB.DirectDatabaseQuery.NoCaching,WordPress.DB.PreparedSQL.InterpolatedNotPrepared -- the table name is ours.
		return (int) $wpdb->get_var( "SELECT COUNT(*) FROM {$table}" );
	}

	/**
	 * Forgets every waiting delivery and the send state (on disconnect).
	 */
	public static function clear() {
		global $wpdb;
		$table = self::table();
		// phpcs:ignore WordPress.DB.DirectDatabaseQuery.DirectQuery,WordPress.DB.DirectDatabaseQuery.NoCaching,WordPress.DB.PreparedSQL.InterpolatedNotPrepared,WordPress.DB.DirectDatabaseQuery.SchemaChange -- the table name is ours.
		$wpdb->query( "DELETE FROM {$table}" );
		update_option( 'joinery_pending', '' );
		foreach ( array( 'joinery_failures', 'joinery_next_attempt', 'joinery_last_error', 'joinery_dropped', 'joinery_last_delivery_at' ) as $option ) {
			delete_option( $option );
		}
		self::unschedule();
	}

	/**
	 * Makes sure WP-Cron runs the sender at $when at the latest.
	 *
	 * @param int $when Unix time.
	 */
	public static function schedule( $when ) {
		$next = wp_next_scheduled( self::CRON_HOOK );
		if ( false !== $next && $next <= $when ) {
			return;
		}
		if ( false !== $next ) {
			wp_unschedule_event( $next, self::CRON_HOOK );
		}
		wp_schedule_single_event( $when, self::CRON_HOOK );
	}

	/**
	 * Sends what this request queued once the response is flushed, so the
	 * editor never waits for Joinery. Without a way to flush first, WP-Cron
	 * sends instead.
	 */
	public static function send_on_shutdown() {
		if ( ! self::$queued || wp_doing_cron() ) {
			return;
		}
		if ( function_exists( 'fastcgi_finish_request' ) ) {
			fastcgi_finish_request();
		} elseif ( function_exists( 'litespeed_finish_request' ) ) {
			litespeed_finish_request();
		} else {
			return;
		}
		self::send( self::SHUTDOWN_BUDGET );
	}

	/**
	 * Sends waiting deliveries, oldest first, until the queue is empty, a
	 * delivery fails (then it waits, doubling up to a minute) or the run's
	 * budget is spent. One sender at a time.
	 *
	 * @param int $budget Seconds to spend at most (a delivery in flight may add its timeout).
	 */
	public static function send( $budget = self::RUN_BUDGET ) {
		global $wpdb;
		$url    = Joinery_Connection::webhook_url();
		$secret = Joinery_Connection::webhook_secret();
		if ( '' === $url || '' === $secret ) {
			return;
		}
		$next = (int) get_option( 'joinery_next_attempt', 0 );
		if ( time() < $next ) {
			self::schedule( $next );
			return;
		}
		$lock = 'joinery_send_' . $wpdb->prefix;
		// phpcs:ignore WordPress.DB.DirectDatabaseQuery.DirectQuery,WordPress.DB.DirectDatabaseQuery.NoCaching -- a lock, not data.
		if ( '1' !== (string) $wpdb->get_var( $wpdb->prepare( 'SELECT GET_LOCK(%s, 0)', $lock ) ) ) {
			return;
		}
		$table    = self::table();
		$deadline = microtime( true ) + ( is_numeric( $budget ) && $budget > 0 ? (int) $budget : self::RUN_BUDGET );
		$sent     = 0;
		$failed   = false;
		while ( ! $failed && microtime( true ) < $deadline ) {
			// phpcs:ignore WordPress.DB.DirectDatabaseQuery.DirectQuery,WordPress.DB.DirectDatabaseQuery.NoCaching,WordPress.DB.PreparedSQL.InterpolatedNotPrepared -- the table name is ours.
			$rows = $wpdb->get_results( $wpdb->prepare( "SELECT id, delivery_id, action, post_id, post_type FROM {$table} ORDER BY id ASC LIMIT %d", self::BATCH ) );
			if ( empty( $rows ) ) {
				break;
			}
			// A burst of saves of one post is one delivery: the latest. Joinery
			// reads the post itself, so the last action is all it needs.
			$latest = array();
			$ids    = array();
			foreach ( $rows as $row ) {
				$latest[ $row->post_id ] = $row;
				$ids[ $row->post_id ][]  = (int) $row->id;
			}
			uasort(
				$latest,
				function ( $a, $b ) {
					return (int) $a->id - (int) $b->id;
				}
			);
			foreach ( $latest as $post_id => $row ) {
				if ( microtime( true ) >= $deadline ) {
					break;
				}
				$result = self::deliver( $url, $secret, $row );
				if ( is_wp_error( $result ) ) {
					self::failed( $result->get_error_message() );
					$failed = true;
					break;
				}
				$placeholders = implode( ',', array_fill( 0, count( $ids[ $post_id ] ), '%d' ) );
				// phpcs:ignore WordPress.DB.DirectDatabaseQuery.DirectQuery,WordPress.DB.DirectDatabaseQuery.NoCaching,WordPress.DB.PreparedSQL.InterpolatedNotPrepared,WordPress.DB.PreparedSQLPlaceholders.UnfinishedPrepare -- the table name is ours; the placeholders are built above.
				$wpdb->query( $wpdb->prepare( "DELETE FROM {$table} WHERE id IN ({$placeholders})", $ids[ $post_id ] ) );
				++$sent;
			}
		}
		if ( $sent > 0 ) {
			update_option( 'joinery_last_delivery_at', time(), false );
			if ( ! $failed ) {
				delete_option( 'joinery_failures' );
				delete_option( 'joinery_next_attempt' );
				delete_option( 'joinery_last_error' );
			}
		}
		// phpcs:ignore WordPress.DB.DirectDatabaseQuery.DirectQuery,WordPress.DB.DirectDatabaseQuery.NoCaching -- a lock, not data.
		$wpdb->query( $wpdb->prepare( 'SELECT RELEASE_LOCK(%s)', $lock ) );
		if ( ! $failed && self::length() > 0 ) {
			self::schedule( time() );
		} elseif ( ! $failed ) {
			update_option( 'joinery_pending', '' );
			// A change queued meanwhile keeps the mark.
			if ( self::length() > 0 ) {
				update_option( 'joinery_pending', microtime( true ) );
				self::schedule( time() );
			}
		}
	}

	/**
	 * Records a failed attempt and when to try again: 1, 2, 4 … seconds,
	 * never more than a minute.
	 *
	 * @param string $message Why it failed (never a secret).
	 */
	private static function failed( $message ) {
		$failures = (int) get_option( 'joinery_failures', 0 ) + 1;
		$delay    = (int) min( self::MAX_BACKOFF, pow( 2, min( $failures - 1, 10 ) ) );
		$next     = time() + $delay;
		update_option( 'joinery_failures', $failures, false );
		update_option( 'joinery_next_attempt', $next, false );
		update_option( 'joinery_last_error', substr( $message, 0, 300 ), false );
		self::schedule( $next );
	}

	/**
	 * Posts one delivery, signed.
	 *
	 * @param string $url    The webhook URL.
	 * @param string $secret The webhook secret (whsec_…).
	 * @param object $row    The queued delivery.
	 * @return true|WP_Error
	 */
	private static function deliver( $url, $secret, $row ) {
		$body = wp_json_encode(
			array(
				'action'    => $row->action,
				'post_id'   => (int) $row->post_id,
				'post_type' => $row->post_type,
				'site_url'  => home_url(),
			)
		);
		$timestamp = time();
		$response  = wp_safe_remote_post(
			$url,
			array(
				'timeout'     => self::TIMEOUT,
				'redirection' => 0,
				'headers'     => array(
					'Content-Type'      => 'application/json',
					'webhook-id'        => $row->delivery_id,
					'webhook-timestamp' => (string) $timestamp,
					'webhook-signature' => self::signature( $secret, $row->delivery_id, $timestamp, $body ),
					'User-Agent'        => 'Joinery-WordPress/' . JOINERY_VERSION,
				),
				'body'        => $body,
			)
		);
		if ( is_wp_error( $response ) ) {
			return $response;
		}
		$code = (int) wp_remote_retrieve_response_code( $response );
		if ( $code < 200 || $code > 299 ) {
			/* translators: %d: an HTTP status code. */
			return new WP_Error( 'joinery_delivery_failed', sprintf( __( 'Joinery answered HTTP %d.', 'joinery' ), $code ) );
		}
		return true;
	}

	/**
	 * The Standard Webhooks signature: v1, then the base64 HMAC-SHA256 of
	 * "id.timestamp.body" keyed with the secret's base64-decoded part.
	 *
	 * @param string $secret    whsec_ and base64.
	 * @param string $id        The delivery's id.
	 * @param int    $timestamp Unix time.
	 * @param string $body      The exact body sent.
	 * @return string
	 */
	public static function signature( $secret, $id, $timestamp, $body ) {
		$key = 0 === strpos( $secret, 'whsec_' ) ? substr( $secret, 6 ) : $secret;
		// phpcs:ignore WordPress.PHP.DiscouragedPHPFunctions.obfuscation_base64_decode -- the secret's documented encoding.
		$key = base64_decode( $key, true );
		// phpcs:ignore WordPress.PHP.DiscouragedPHPFunctions.obfuscation_base64_encode -- the signature's documented encoding.
		return 'v1,' . base64_encode( hash_hmac( 'sha256', $id . '.' . $timestamp . '.' . $body, (string) $key, true ) );
	}
}

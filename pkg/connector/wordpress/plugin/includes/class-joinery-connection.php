<?php
/**
 * Connecting to Joinery and keeping it told of the site's structure.
 *
 * @package Joinery
 */

if ( ! defined( 'ABSPATH' ) ) {
	exit;
}

/**
 * Connect, disconnect, status and structure pushes.
 */
class Joinery_Connection {

	const STRUCTURE_HOOK = 'joinery_push_structure';

	/** The name the Application Password is given in the user's profile. */
	const APP_NAME = 'Joinery';

	/** Seconds to wait for Joinery's onboarding answer: it tests the site back. */
	const CONNECT_TIMEOUT = 30;

	/**
	 * Every option the plugin writes; uninstall.php removes them all.
	 *
	 * @var string[]
	 */
	const OPTIONS = array(
		'joinery_url',
		'joinery_site_key',
		'joinery_integration_id',
		'joinery_webhook_url',
		'joinery_webhook_secret',
		'joinery_app_password_uuid',
		'joinery_app_password_user',
		'joinery_connected_at',
		'joinery_structure_hash',
		'joinery_structure_pushed_at',
		'joinery_structure_error',
		'joinery_last_delivery_at',
		'joinery_failures',
		'joinery_next_attempt',
		'joinery_last_error',
		'joinery_dropped',
		'joinery_pending',
		'joinery_db_version',
	);

	/**
	 * Hooks the structure watcher.
	 */
	public static function register() {
		add_action( self::STRUCTURE_HOOK, array( __CLASS__, 'push_structure' ) );
		// Late, so post types and taxonomies registered on init are there.
		add_action( 'wp_loaded', array( __CLASS__, 'watch_structure' ) );
	}

	/**
	 * Whether the site is connected.
	 *
	 * @return bool
	 */
	public static function connected() {
		return '' !== (string) get_option( 'joinery_integration_id', '' );
	}

	/**
	 * Where deliveries go ('' when not connected).
	 *
	 * @return string
	 */
	public static function webhook_url() {
		return (string) get_option( 'joinery_webhook_url', '' );
	}

	/**
	 * The secret deliveries are signed with ('' when not connected).
	 *
	 * @return string
	 */
	public static function webhook_secret() {
		return (string) get_option( 'joinery_webhook_secret', '' );
	}

	/**
	 * Connects the site: creates an Application Password for $user, has
	 * Joinery test it with the site key, keeps what Joinery returns and
	 * pushes the site's structure. On any failure nothing is kept and the
	 * new Application Password is revoked.
	 *
	 * @param string  $joinery_url Joinery's API URL.
	 * @param string  $site_key    The site key from Joinery.
	 * @param WP_User $user        The administrator the password is for.
	 * @return array|WP_Error The new status, or why it failed.
	 */
	public static function connect( $joinery_url, $site_key, $user ) {
		$joinery_url = untrailingslashit( esc_url_raw( trim( (string) $joinery_url ), array( 'http', 'https' ) ) );
		$site_key    = trim( sanitize_text_field( (string) $site_key ) );
		if ( '' === $joinery_url || ! wp_http_validate_url( $joinery_url ) ) {
			return new WP_Error( 'joinery_invalid_url', __( 'The Joinery API URL must be an http or https URL that this site may call.', 'joinery' ), array( 'status' => 400 ) );
		}
		if ( '' === $site_key || strlen( $site_key ) > 256 ) {
			return new WP_Error( 'joinery_invalid_site_key', __( 'The site key is required.', 'joinery' ), array( 'status' => 400 ) );
		}
		if ( ! wp_is_application_passwords_available_for_user( $user ) ) {
			return new WP_Error( 'joinery_no_application_passwords', __( 'Application Passwords are not available for this user on this site (they need HTTPS, or a local environment).', 'joinery' ), array( 'status' => 400 ) );
		}
		$created = WP_Application_Passwords::create_new_application_password( $user->ID, array( 'name' => self::APP_NAME ) );
		if ( is_wp_error( $created ) ) {
			return $created;
		}
		list( $password, $item ) = $created;

		$response = wp_safe_remote_post(
			$joinery_url . '/v1/integrations/test_connection',
			array(
				'timeout'     => self::CONNECT_TIMEOUT,
				'redirection' => 0,
				'headers'     => array(
					'Authorization' => 'Bearer ' . $site_key,
					'Content-Type'  => 'application/json',
				),
				'body'        => wp_json_encode(
					array(
						'site_url'     => untrailingslashit( home_url() ),
						'username'     => $user->user_login,
						'app_password' => $password,
					)
				),
			)
		);
		$answer = self::answer( $response );
		if ( ! is_wp_error( $answer ) && ( empty( $answer['integration_id'] ) || ! is_string( $answer['integration_id'] ) ) ) {
			$answer = new WP_Error( 'joinery_bad_answer', __( 'Joinery did not return an integration.', 'joinery' ), array( 'status' => 502 ) );
		}
		if ( is_wp_error( $answer ) ) {
			WP_Application_Passwords::delete_application_password( $user->ID, $item['uuid'] );
			return $answer;
		}

		// The password of an earlier connection is no longer used.
		self::revoke_application_password();
		update_option( 'joinery_url', $joinery_url );
		update_option( 'joinery_site_key', $site_key, false );
		update_option( 'joinery_integration_id', sanitize_text_field( $answer['integration_id'] ) );
		update_option( 'joinery_webhook_url', isset( $answer['webhook_url'] ) ? esc_url_raw( (string) $answer['webhook_url'], array( 'http', 'https' ) ) : '' );
		update_option( 'joinery_webhook_secret', isset( $answer['webhook_secret'] ) ? sanitize_text_field( (string) $answer['webhook_secret'] ) : '', false );
		update_option( 'joinery_app_password_uuid', $item['uuid'], false );
		update_option( 'joinery_app_password_user', (int) $user->ID, false );
		update_option( 'joinery_connected_at', time(), false );
		delete_option( 'joinery_structure_hash' );

		$pushed = self::push_structure();
		$status = self::status();

		$status['created']          = ! empty( $answer['created'] );
		$status['structure_pushed'] = ! is_wp_error( $pushed );
		return $status;
	}

	/**
	 * Disconnects the site: revokes the Application Password Joinery used,
	 * forgets the connection and every waiting delivery.
	 *
	 * @return array The new status, and whether a password was revoked.
	 */
	public static function disconnect() {
		$revoked = self::revoke_application_password();
		// Kept empty, not deleted: every request reads them.
		update_option( 'joinery_integration_id', '' );
		update_option( 'joinery_webhook_url', '' );
		foreach ( array( 'joinery_site_key', 'joinery_webhook_secret', 'joinery_connected_at', 'joinery_structure_hash', 'joinery_structure_pushed_at', 'joinery_structure_error' ) as $option ) {
			delete_option( $option );
		}
		Joinery_Queue::clear();
		$status            = self::status();
		$status['revoked'] = $revoked;
		return $status;
	}

	/**
	 * Revokes the Application Password made for Joinery, if any.
	 *
	 * @return bool Whether one was revoked.
	 */
	public static function revoke_application_password() {
		$uuid    = (string) get_option( 'joinery_app_password_uuid', '' );
		$user_id = (int) get_option( 'joinery_app_password_user', 0 );
		delete_option( 'joinery_app_password_uuid' );
		delete_option( 'joinery_app_password_user' );
		if ( '' === $uuid || $user_id <= 0 ) {
			return false;
		}
		return true === WP_Application_Passwords::delete_application_password( $user_id, $uuid );
	}

	/**
	 * What the site's connection looks like; never a secret.
	 *
	 * @return array
	 */
	public static function status() {
		$last = (int) get_option( 'joinery_last_delivery_at', 0 );
		$next = (int) get_option( 'joinery_next_attempt', 0 );
		$push = (int) get_option( 'joinery_structure_pushed_at', 0 );
		return array(
			'connected'           => self::connected(),
			'joinery_url'         => (string) get_option( 'joinery_url', '' ),
			'integration_id'      => (string) get_option( 'joinery_integration_id', '' ),
			'webhooks'            => '' !== self::webhook_url() && '' !== self::webhook_secret(),
			'last_delivery_at'    => $last > 0 ? gmdate( 'c', $last ) : null,
			'queue_length'        => Joinery_Queue::length(),
			'dropped'             => (int) get_option( 'joinery_dropped', 0 ),
			'failures'            => (int) get_option( 'joinery_failures', 0 ),
			'next_attempt_at'     => $next > 0 ? gmdate( 'c', $next ) : null,
			'last_error'          => (string) get_option( 'joinery_last_error', '' ),
			'structure_pushed_at' => $push > 0 ? gmdate( 'c', $push ) : null,
			'structure_error'     => (string) get_option( 'joinery_structure_error', '' ),
			'plugin_version'      => JOINERY_VERSION,
		);
	}

	/**
	 * The site's post types and taxonomies, as Joinery's update_structure
	 * route takes them: those the REST API shows, which are what Joinery
	 * can read.
	 *
	 * @return array
	 */
	public static function structure() {
		$types = array();
		foreach ( get_post_types( array( 'show_in_rest' => true ), 'objects' ) as $type ) {
			$types[] = array(
				'name'       => $type->name,
				'label'      => (string) $type->label,
				'rest_base'  => ! empty( $type->rest_base ) && is_string( $type->rest_base ) ? $type->rest_base : $type->name,
				'taxonomies' => array_values( get_object_taxonomies( $type->name ) ),
			);
		}
		$taxonomies = array();
		foreach ( get_taxonomies( array( 'show_in_rest' => true ), 'objects' ) as $taxonomy ) {
			$taxonomies[] = array(
				'name'      => $taxonomy->name,
				'label'     => (string) $taxonomy->label,
				'rest_base' => ! empty( $taxonomy->rest_base ) && is_string( $taxonomy->rest_base ) ? $taxonomy->rest_base : $taxonomy->name,
				'types'     => array_values( (array) $taxonomy->object_type ),
			);
		}
		usort( $types, array( __CLASS__, 'by_name' ) );
		usort( $taxonomies, array( __CLASS__, 'by_name' ) );
		return array(
			'post_types' => $types,
			'taxonomies' => $taxonomies,
		);
	}

	/**
	 * Orders structure entries by name.
	 *
	 * @param array $a One entry.
	 * @param array $b Another.
	 * @return int
	 */
	public static function by_name( $a, $b ) {
		return strcmp( $a['name'], $b['name'] );
	}

	/**
	 * Schedules a structure push when the post types or taxonomies changed
	 * since the last one (a plugin or theme registered or removed some).
	 */
	public static function watch_structure() {
		if ( ! self::connected() ) {
			return;
		}
		if ( self::structure_hash( self::structure() ) === get_option( 'joinery_structure_hash', '' ) ) {
			return;
		}
		if ( false === wp_next_scheduled( self::STRUCTURE_HOOK ) ) {
			wp_schedule_single_event( time(), self::STRUCTURE_HOOK );
		}
	}

	/**
	 * A fingerprint of a structure without its labels: labels follow each
	 * user's language, and a push per language would be noise.
	 *
	 * @param array $structure What structure() returns.
	 * @return string
	 */
	private static function structure_hash( $structure ) {
		foreach ( array( 'post_types', 'taxonomies' ) as $kind ) {
			foreach ( $structure[ $kind ] as $i => $entry ) {
				unset( $structure[ $kind ][ $i ]['label'] );
			}
		}
		return md5( (string) wp_json_encode( $structure ) );
	}

	/**
	 * Sends the structure to Joinery with the site key.
	 *
	 * @return true|WP_Error
	 */
	public static function push_structure() {
		if ( ! self::connected() ) {
			return new WP_Error( 'joinery_not_connected', __( 'This site is not connected to Joinery.', 'joinery' ) );
		}
		$structure              = self::structure();
		$body                   = $structure;
		$body['plugin_version'] = JOINERY_VERSION;
		$response               = wp_safe_remote_post(
			get_option( 'joinery_url' ) . '/v1/integrations/' . rawurlencode( (string) get_option( 'joinery_integration_id' ) ) . '/update_structure',
			array(
				'timeout'     => Joinery_Queue::TIMEOUT,
				'redirection' => 0,
				'headers'     => array(
					'Authorization' => 'Bearer ' . get_option( 'joinery_site_key', '' ),
					'Content-Type'  => 'application/json',
				),
				'body'        => wp_json_encode( $body ),
			)
		);
		$answer = self::answer( $response );
		if ( is_wp_error( $answer ) ) {
			update_option( 'joinery_structure_error', substr( $answer->get_error_message(), 0, 300 ), false );
			// Try again in a minute; the watcher also notices on later requests.
			if ( false === wp_next_scheduled( self::STRUCTURE_HOOK ) ) {
				wp_schedule_single_event( time() + 60, self::STRUCTURE_HOOK );
			}
			return $answer;
		}
		update_option( 'joinery_structure_hash', self::structure_hash( $structure ), false );
		update_option( 'joinery_structure_pushed_at', time(), false );
		delete_option( 'joinery_structure_error' );
		return true;
	}

	/**
	 * Joinery's JSON answer, or an error carrying Joinery's message.
	 *
	 * @param array|WP_Error $response What wp_safe_remote_post returned.
	 * @return array|WP_Error
	 */
	private static function answer( $response ) {
		if ( is_wp_error( $response ) ) {
			/* translators: %s: why the request failed. */
			return new WP_Error( 'joinery_unreachable', sprintf( __( 'Joinery could not be reached: %s', 'joinery' ), $response->get_error_message() ), array( 'status' => 502 ) );
		}
		$code = (int) wp_remote_retrieve_response_code( $response );
		$json = json_decode( wp_remote_retrieve_body( $response ), true );
		if ( $code >= 200 && $code <= 299 && is_array( $json ) ) {
			return $json;
		}
		$message = is_array( $json ) && isset( $json['error']['message'] ) && is_string( $json['error']['message'] ) ? $json['error']['message'] : '';
		if ( '' === $message ) {
			/* translators: %d: an HTTP status code. */
			$message = sprintf( __( 'Joinery answered HTTP %d.', 'joinery' ), $code );
		} else {
			/* translators: %s: Joinery's error message. */
			$message = sprintf( __( 'Joinery refused: %s', 'joinery' ), $message );
		}
		return new WP_Error( 'joinery_refused', $message, array( 'status' => $code >= 500 ? 502 : 400 ) );
	}
}

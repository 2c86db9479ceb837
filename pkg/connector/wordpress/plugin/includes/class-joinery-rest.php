<?php
/**
 * REST routes, so agencies can connect many sites by script.
 *
 * @package Joinery
 */

if ( ! defined( 'ABSPATH' ) ) {
	exit;
}

/**
 * POST joinery/v1/connect, POST joinery/v1/disconnect, GET joinery/v1/status;
 * administrators only.
 */
class Joinery_Rest {

	const NAMESPACE_V1 = 'joinery/v1';

	/**
	 * Hooks the routes.
	 */
	public static function register() {
		add_action( 'rest_api_init', array( __CLASS__, 'routes' ) );
	}

	/**
	 * Registers the routes.
	 */
	public static function routes() {
		register_rest_route(
			self::NAMESPACE_V1,
			'/connect',
			array(
				'methods'             => WP_REST_Server::CREATABLE,
				'callback'            => array( __CLASS__, 'connect' ),
				'permission_callback' => array( __CLASS__, 'allowed' ),
				'args'                => array(
					'joinery_url' => array(
						'description'       => __( 'Joinery API URL.', 'joinery' ),
						'type'              => 'string',
						'format'            => 'uri',
						'required'          => true,
						'sanitize_callback' => 'esc_url_raw',
					),
					'site_key'    => array(
						'description'       => __( 'The site key from Joinery.', 'joinery' ),
						'type'              => 'string',
						'required'          => true,
						'minLength'         => 1,
						'maxLength'         => 256,
						'sanitize_callback' => 'sanitize_text_field',
					),
				),
			)
		);
		register_rest_route(
			self::NAMESPACE_V1,
			'/disconnect',
			array(
				'methods'             => WP_REST_Server::CREATABLE,
				'callback'            => array( __CLASS__, 'disconnect' ),
				'permission_callback' => array( __CLASS__, 'allowed' ),
			)
		);
		register_rest_route(
			self::NAMESPACE_V1,
			'/status',
			array(
				'methods'             => WP_REST_Server::READABLE,
				'callback'            => array( __CLASS__, 'status' ),
				'permission_callback' => array( __CLASS__, 'allowed' ),
			)
		);
	}

	/**
	 * Only administrators manage the connection. Cookie-authenticated calls
	 * also carry the REST nonce, which WordPress checks before this.
	 *
	 * @return bool|WP_Error
	 */
	public static function allowed() {
		if ( current_user_can( 'manage_options' ) ) {
			return true;
		}
		return new WP_Error( 'rest_forbidden', __( 'Only administrators can manage the Joinery connection.', 'joinery' ), array( 'status' => rest_authorization_required_code() ) );
	}

	/**
	 * Connects the site.
	 *
	 * @param WP_REST_Request $request The request.
	 * @return WP_REST_Response|WP_Error
	 */
	public static function connect( $request ) {
		$result = Joinery_Connection::connect( $request['joinery_url'], $request['site_key'], wp_get_current_user() );
		if ( is_wp_error( $result ) ) {
			return $result;
		}
		return rest_ensure_response( $result );
	}

	/**
	 * Disconnects the site.
	 *
	 * @return WP_REST_Response
	 */
	public static function disconnect() {
		return rest_ensure_response( Joinery_Connection::disconnect() );
	}

	/**
	 * The connection's status.
	 *
	 * @return WP_REST_Response
	 */
	public static function status() {
		return rest_ensure_response( Joinery_Connection::status() );
	}
}

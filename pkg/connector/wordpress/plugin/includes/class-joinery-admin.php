<?php
/**
 * Settings → Joinery.
 *
 * @package Joinery
 */

if ( ! defined( 'ABSPATH' ) ) {
	exit;
}

/**
 * The settings page: connect with a Joinery API URL and a site key, see
 * the connection's state, disconnect.
 */
class Joinery_Admin {

	const PAGE = 'joinery';

	/**
	 * Hooks the page and its form handlers.
	 */
	public static function register() {
		add_action( 'admin_menu', array( __CLASS__, 'menu' ) );
		add_action( 'admin_post_joinery_connect', array( __CLASS__, 'handle_connect' ) );
		add_action( 'admin_post_joinery_disconnect', array( __CLASS__, 'handle_disconnect' ) );
		add_filter( 'plugin_action_links_' . plugin_basename( JOINERY_FILE ), array( __CLASS__, 'action_links' ) );
	}

	/**
	 * Adds Settings → Joinery.
	 */
	public static function menu() {
		add_options_page( __( 'Joinery', 'joinery' ), __( 'Joinery', 'joinery' ), 'manage_options', self::PAGE, array( __CLASS__, 'render' ) );
	}

	/**
	 * Adds a Settings link on the Plugins screen.
	 *
	 * @param string[] $links The plugin's links.
	 * @return string[]
	 */
	public static function action_links( $links ) {
		$links[] = '<a href="' . esc_url( admin_url( 'options-general.php?page=' . self::PAGE ) ) . '">' . esc_html__( 'Settings', 'joinery' ) . '</a>';
		return $links;
	}

	/**
	 * The page's URL, with a notice to show.
	 *
	 * @param string $notice connected, disconnected or error.
	 * @return string
	 */
	private static function page_url( $notice ) {
		return add_query_arg(
			array(
				'page'           => self::PAGE,
				'joinery_notice' => $notice,
			),
			admin_url( 'options-general.php' )
		);
	}

	/**
	 * Handles the Connect form.
	 */
	public static function handle_connect() {
		if ( ! current_user_can( 'manage_options' ) ) {
			wp_die( esc_html__( 'Only administrators can manage the Joinery connection.', 'joinery' ), 403 );
		}
		check_admin_referer( 'joinery_connect' );
		$url    = isset( $_POST['joinery_url'] ) ? esc_url_raw( wp_unslash( $_POST['joinery_url'] ) ) : '';
		$key    = isset( $_POST['joinery_site_key'] ) ? sanitize_text_field( wp_unslash( $_POST['joinery_site_key'] ) ) : '';
		$result = Joinery_Connection::connect( $url, $key, wp_get_current_user() );
		if ( is_wp_error( $result ) ) {
			set_transient( 'joinery_error_' . get_current_user_id(), $result->get_error_message(), 5 * MINUTE_IN_SECONDS );
			wp_safe_redirect( self::page_url( 'error' ) );
			exit;
		}
		wp_safe_redirect( self::page_url( 'connected' ) );
		exit;
	}

	/**
	 * Handles the Disconnect form.
	 */
	public static function handle_disconnect() {
		if ( ! current_user_can( 'manage_options' ) ) {
			wp_die( esc_html__( 'Only administrators can manage the Joinery connection.', 'joinery' ), 403 );
		}
		check_admin_referer( 'joinery_disconnect' );
		Joinery_Connection::disconnect();
		wp_safe_redirect( self::page_url( 'disconnected' ) );
		exit;
	}

	/**
	 * Renders the page.
	 */
	public static function render() {
		if ( ! current_user_can( 'manage_options' ) ) {
			return;
		}
		$status = Joinery_Connection::status();
		// phpcs:ignore WordPress.Security.NonceVerification.Recommended -- only picks which notice to show.
		$notice = isset( $_GET['joinery_notice'] ) ? sanitize_key( wp_unslash( $_GET['joinery_notice'] ) ) : '';
		echo '<div class="wrap"><h1>' . esc_html__( 'Joinery', 'joinery' ) . '</h1>';
		if ( 'connected' === $notice ) {
			echo '<div class="notice notice-success"><p>' . esc_html__( 'Connected to Joinery.', 'joinery' ) . '</p></div>';
		} elseif ( 'disconnected' === $notice ) {
			echo '<div class="notice notice-success"><p>' . esc_html__( 'Disconnected; the Application Password Joinery used is revoked.', 'joinery' ) . '</p></div>';
		} elseif ( 'error' === $notice ) {
			$message = get_transient( 'joinery_error_' . get_current_user_id() );
			delete_transient( 'joinery_error_' . get_current_user_id() );
			if ( is_string( $message ) && '' !== $message ) {
				echo '<div class="notice notice-error"><p>' . esc_html( $message ) . '</p></div>';
			}
		}

		if ( $status['connected'] ) {
			echo '<table class="form-table" role="presentation"><tbody>';
			self::row( __( 'Joinery API URL', 'joinery' ), $status['joinery_url'] );
			self::row( __( 'Integration', 'joinery' ), $status['integration_id'] );
			self::row( __( 'Live updates', 'joinery' ), $status['webhooks'] ? __( 'On', 'joinery' ) : __( 'Off: this Joinery did not provide a webhook URL.', 'joinery' ) );
			self::row( __( 'Last delivery', 'joinery' ), null === $status['last_delivery_at'] ? __( 'None yet', 'joinery' ) : $status['last_delivery_at'] );
			self::row( __( 'Waiting to be sent', 'joinery' ), (string) $status['queue_length'] );
			if ( $status['dropped'] > 0 ) {
				self::row( __( 'Dropped (queue full)', 'joinery' ), (string) $status['dropped'] );
			}
			if ( '' !== $status['last_error'] ) {
				self::row( __( 'Last error', 'joinery' ), $status['last_error'] );
			}
			self::row( __( 'Structure sent', 'joinery' ), null === $status['structure_pushed_at'] ? __( 'Not yet', 'joinery' ) : $status['structure_pushed_at'] );
			echo '</tbody></table>';
			echo '<form method="post" action="' . esc_url( admin_url( 'admin-post.php' ) ) . '">';
			echo '<input type="hidden" name="action" value="joinery_disconnect" />';
			wp_nonce_field( 'joinery_disconnect' );
			submit_button( __( 'Disconnect', 'joinery' ), 'delete' );
			echo '</form></div>';
			return;
		}

		echo '<p>' . esc_html__( 'Connect this site to Joinery: Joinery gets an Application Password for your user, and hears of every content change within seconds.', 'joinery' ) . '</p>';
		echo '<form method="post" action="' . esc_url( admin_url( 'admin-post.php' ) ) . '">';
		echo '<input type="hidden" name="action" value="joinery_connect" />';
		wp_nonce_field( 'joinery_connect' );
		echo '<table class="form-table" role="presentation"><tbody>';
		echo '<tr><th scope="row"><label for="joinery_url">' . esc_html__( 'Joinery API URL', 'joinery' ) . '</label></th>';
		echo '<td><input type="url" class="regular-text" id="joinery_url" name="joinery_url" required value="' . esc_attr( $status['joinery_url'] ) . '" /></td></tr>';
		echo '<tr><th scope="row"><label for="joinery_site_key">' . esc_html__( 'Site key', 'joinery' ) . '</label></th>';
		echo '<td><input type="password" class="regular-text" id="joinery_site_key" name="joinery_site_key" required autocomplete="off" value="" /></td></tr>';
		echo '</tbody></table>';
		submit_button( __( 'Connect', 'joinery' ) );
		echo '</form></div>';
	}

	/**
	 * Prints one row of the status table.
	 *
	 * @param string $label The row's label.
	 * @param string $value Its value.
	 */
	private static function row( $label, $value ) {
		echo '<tr><th scope="row">' . esc_html( $label ) . '</th><td>' . esc_html( $value ) . '</td></tr>';
	}
}

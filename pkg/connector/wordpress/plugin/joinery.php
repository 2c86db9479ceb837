<?php
/**
 * Plugin Name:       Joinery
 * Plugin URI:        https://github.com/joinery/joinery
 * Description:       Connects this site to Joinery in one click and tells Joinery of every content change within seconds, through signed webhooks.
 * Version:           1.0.0
 * Requires at least: 5.6
 * Requires PHP:      7.4
 * Author:            Joinery
 * License:           GPL-2.0-or-later
 * License URI:       https://www.gnu.org/licenses/gpl-2.0.html
 * Text Domain:       joinery
 * Domain Path:       /languages
 *
 * @package Joinery
 */

if ( ! defined( 'ABSPATH' ) ) {
	exit;
}

define( 'JOINERY_VERSION', '1.0.0' );
define( 'JOINERY_FILE', __FILE__ );

require_once __DIR__ . '/includes/class-joinery-queue.php';
require_once __DIR__ . '/includes/class-joinery-connection.php';
require_once __DIR__ . '/includes/class-joinery-changes.php';
require_once __DIR__ . '/includes/class-joinery-rest.php';
require_once __DIR__ . '/includes/class-joinery-admin.php';

register_activation_hook( __FILE__, array( 'Joinery_Queue', 'install' ) );
register_deactivation_hook( __FILE__, array( 'Joinery_Queue', 'unschedule' ) );

add_action( 'plugins_loaded', 'joinery_load' );

/**
 * Wires the plugin's hooks once every plugin is loaded.
 */
function joinery_load() {
	load_plugin_textdomain( 'joinery', false, dirname( plugin_basename( __FILE__ ) ) . '/languages' );
	Joinery_Queue::maybe_upgrade();
	Joinery_Queue::register();
	Joinery_Connection::register();
	Joinery_Changes::register();
	Joinery_Rest::register();
	if ( is_admin() ) {
		Joinery_Admin::register();
	}
}

<?php
/**
 * Removes everything the plugin stored: its options, its queue table, its
 * scheduled events and the Application Password it made for Joinery.
 *
 * @package Joinery
 */

if ( ! defined( 'WP_UNINSTALL_PLUGIN' ) ) {
	exit;
}

require_once __DIR__ . '/includes/class-joinery-queue.php';
require_once __DIR__ . '/includes/class-joinery-connection.php';

Joinery_Connection::revoke_application_password();
Joinery_Queue::unschedule();
foreach ( Joinery_Connection::OPTIONS as $joinery_option ) {
	delete_option( $joinery_option );
}
global $wpdb;
$joinery_table = Joinery_Queue::table();
// phpcs:ignore WordPress.DB.DirectDatabaseQuery.DirectQuery,WordPress.DB.DirectDatabaseQuery.NoCaching,WordPress.DB.DirectDatabaseQuery.SchemaChange,WordPress.DB.PreparedSQL.InterpolatedNotPrepared -- the plugin's own table.
$wpdb->query( "DROP TABLE IF EXISTS {$joinery_table}" );

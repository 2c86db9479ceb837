<?php
/**
 * Turning content changes into deliveries.
 *
 * @package Joinery
 */

if ( ! defined( 'ABSPATH' ) ) {
	exit;
}

/**
 * Watches posts of the synced types and queues a delivery for each change.
 */
class Joinery_Changes {

	/**
	 * Hooks the post lifecycle.
	 */
	public static function register() {
		// After terms and meta are saved, once per save; trash and untrash
		// are saves too (a status change), told apart by the status before.
		add_action( 'wp_after_insert_post', array( __CLASS__, 'saved' ), 10, 4 );
		add_action( 'deleted_post', array( __CLASS__, 'deleted' ), 10, 2 );
	}

	/**
	 * The post types whose changes Joinery hears of: the public ones the
	 * REST API shows (posts, pages, media and public custom types).
	 *
	 * @return string[]
	 */
	public static function post_types() {
		$types = array_values( get_post_types( array( 'public' => true, 'show_in_rest' => true ) ) );
		/**
		 * Filters the post types whose changes are sent to Joinery.
		 *
		 * @param string[] $types Post type names.
		 */
		return (array) apply_filters( 'joinery_post_types', $types );
	}

	/**
	 * Whether a change to $post is one Joinery should hear of.
	 *
	 * @param WP_Post $post The post.
	 * @return bool
	 */
	private static function wanted( $post ) {
		if ( ! $post instanceof WP_Post || '' === Joinery_Connection::webhook_url() ) {
			return false;
		}
		if ( ( defined( 'DOING_AUTOSAVE' ) && DOING_AUTOSAVE ) || wp_is_post_revision( $post ) || wp_is_post_autosave( $post ) ) {
			return false;
		}
		if ( 'auto-draft' === $post->post_status ) {
			return false;
		}
		return in_array( $post->post_type, self::post_types(), true );
	}

	/**
	 * Queues a created, updated, trashed or untrashed post.
	 *
	 * @param int          $post_id     The post's ID.
	 * @param WP_Post      $post        The post as saved.
	 * @param bool         $update      Whether it existed before.
	 * @param WP_Post|null $post_before The post before the save.
	 */
	public static function saved( $post_id, $post, $update, $post_before ) {
		if ( ! self::wanted( $post ) ) {
			return;
		}
		$before = $post_before instanceof WP_Post ? $post_before->post_status : '';
		if ( ! $update || 'auto-draft' === $before || '' === $before ) {
			$action = 'post_created';
		} elseif ( 'trash' === $post->post_status && 'trash' !== $before ) {
			$action = 'post_trashed';
		} elseif ( 'trash' === $before && 'trash' !== $post->post_status ) {
			$action = 'post_untrashed';
		} else {
			$action = 'post_updated';
		}
		Joinery_Queue::push( $action, $post_id, $post->post_type );
	}

	/**
	 * Queues a permanently deleted post.
	 *
	 * @param int     $post_id The post's ID.
	 * @param WP_Post $post    The post as it was.
	 */
	public static function deleted( $post_id, $post = null ) {
		if ( ! self::wanted( $post ) ) {
			return;
		}
		Joinery_Queue::push( 'post_deleted', $post_id, $post->post_type );
	}
}
